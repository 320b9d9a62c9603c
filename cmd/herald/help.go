package main

// Help and shell completion come from one table, commands: what each verb
// (and each subcommand of deliveries, destinations and config) is for, its
// flags' placeholders and choices, and its examples.
//
// `herald VERB --help` (or -h, or `herald help VERB`) prints to stdout and
// exits 0. A verb with flags answers from its own FlagSet, so the flags,
// their descriptions and defaults shown are the ones it parses: parse
// returns helpRequest for -h and run prints it with the table's entry. A
// verb without a FlagSet of its own (the groups, version, help) answers
// from the table alone. TestHelp keeps the table's flags equal to each
// FlagSet's, so that completion offers exactly what the verbs accept.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/herald-ci/herald/sources"
)

// command is one verb, or one subcommand ("deliveries list"), of herald.
type command struct {
	name     string   // as typed after herald
	synopsis []string // usage lines after "herald "; default: name [flags]
	summary  string   // one line, for the list of a group's commands
	about    string   // what it does, a paragraph or two
	exit     string   // its exit status, when not the usual 0/1/2
	flags    []flagSpec
	// words are the choices of the first argument: a group's subcommands,
	// completion's shells, help's verbs.
	words []string
	// static: no FlagSet of its own; run answers --help from this entry.
	static   bool
	examples []string
}

// flagSpec is what help and completion know of a flag beyond its FlagSet.
type flagSpec struct {
	name string
	// value is the placeholder of the flag's value, "" for a bool flag.
	// FILE and DIR complete file names.
	value  string
	values []string // the choices, completed by the shells
}

// Flags several verbs share.
var (
	configFlag    = flagSpec{name: "config", value: "FILE"}
	listenFlag    = flagSpec{name: "listen", value: "HOST:PORT"}
	serverFlag    = flagSpec{name: "server", value: "URL"}
	tokenFileFlag = flagSpec{name: "token-file", value: "FILE"}
	sourceFlag    = flagSpec{name: "source", value: "NAME", values: sources.Names()}
)

var commands = []command{
	{
		name:    "serve",
		summary: "run the HTTP API and the delivery workers",
		about: `Runs herald: accepts events on the config's listen address and delivers them.
Without --config it listens on 127.0.0.1:8080, stores to ./herald.db and sends
to $SLACK_WEBHOOK_URL / $TEAMS_WEBHOOK_URL, or logs messages to the console.
SIGHUP reloads the config; SIGINT or SIGTERM stops gracefully (exit 0).`,
		flags: []flagSpec{configFlag, listenFlag,
			{name: "log-format", value: "FORMAT", values: []string{"json", "console"}},
			{name: "log-level", value: "LEVEL", values: []string{"debug", "info", "warn", "error"}},
		},
		examples: []string{
			"herald serve --config /etc/herald/herald.yaml",
			"herald serve --listen 0.0.0.0:8080 --log-format console --log-level debug",
		},
	},
	{
		name:     "render",
		synopsis: []string{"render [flags] --source NAME EVENT.json", "render --all [flags] DIR"},
		summary:  "print the message an event becomes, without sending it",
		about: `Prints what an adapter builds from an event (- reads stdin), or with --all
renders every *.json of DIR for every adapter. Nothing is sent or stored.`,
		flags: []flagSpec{configFlag, sourceFlag,
			{name: "adapter", value: "NAME", values: []string{"slack", "teams", "teams-messagecard", "teams-adaptive-card", "webhook", "console"}},
			{name: "templates-dir", value: "DIR"},
			{name: "all"},
			{name: "out", value: "DIR"},
		},
		examples: []string{
			"herald render --source teamcity --adapter slack build-failed.json",
			"herald render --source generic --adapter teams - < event.json",
			"herald render --all --out rendered/ events/",
		},
	},
	{
		name:     "send-test",
		synopsis: []string{"send-test [flags] --destination NAME"},
		summary:  "send one test message to a destination now",
		about:    afterUsage(sendTestUsage),
		exit:     "0 when the platform accepted the message, 1 when not, 2 on bad usage.",
		flags: []flagSpec{configFlag, sourceFlag,
			{name: "destination", value: "NAME"},
			{name: "event", value: "FILE"},
		},
		examples: []string{
			"herald send-test --config herald.yaml --destination team-slack",
			"herald send-test --config herald.yaml --destination team-slack --source teamcity --event build.json",
		},
	},
	{
		name:     "validate",
		synopsis: []string{"validate --config FILE"},
		summary:  "check a config file and its templates",
		about:    "Loads the config as serve would, builds every destination's adapter, and says ok.",
		flags:    []flagSpec{configFlag},
		examples: []string{"herald validate --config herald.yaml"},
	},
	{
		name:    "config",
		static:  true,
		summary: "show the configuration herald runs on",
		words:   []string{"print"},
		examples: []string{
			"herald config print --config herald.yaml",
		},
	},
	{
		name:    "config print",
		summary: "print the effective config as YAML, secrets redacted",
		about: `Prints the configuration serve would run on: ${VAR}s expanded, *_file secrets
read, defaults filled in. Secrets print as <secret>, so the output can go in a
bug report; it is therefore not a file herald can load back.`,
		flags: []flagSpec{configFlag, listenFlag},
		examples: []string{
			"herald config print --config herald.yaml",
			"herald config print    # the built-in config serve uses without --config",
		},
	},
	{
		name:    "migrate",
		summary: "apply the store's schema migrations and exit",
		about: `Applies River's and herald's pending migrations. serve does the same at start;
this lets an operator migrate a shared PostgreSQL database once, before a rollout.`,
		flags:    []flagSpec{configFlag},
		examples: []string{"herald migrate --config herald.yaml"},
	},
	{
		name:    "deliveries",
		static:  true,
		summary: "list, show and retry deliveries of a running herald",
		about:   afterUsage(deliveriesUsage),
		words:   []string{"list", "show", "retry"},
		examples: []string{
			"herald deliveries list --state failed",
			"herald deliveries retry --destination team-slack --state dead",
		},
	},
	{
		name:     "deliveries list",
		summary:  "list deliveries, newest first",
		flags:    []flagSpec{serverFlag, tokenFileFlag, {name: "state", value: "STATE", values: []string{"pending", "delivered", "failed", "dead"}}, {name: "destination", value: "NAME"}, {name: "limit", value: "N"}, {name: "cursor", value: "CURSOR"}},
		examples: []string{"herald deliveries list --state failed --destination team-slack", "herald deliveries list --server https://herald.example.com --token-file ~/.herald-token --limit 20"},
	},
	{
		name:     "deliveries show",
		synopsis: []string{"deliveries show [flags] ID"},
		summary:  "show one delivery with every attempt's error and its payload",
		flags:    []flagSpec{serverFlag, tokenFileFlag},
		examples: []string{"herald deliveries show 42"},
	},
	{
		name:     "deliveries retry",
		synopsis: []string{"deliveries retry [flags] ID", "deliveries retry [flags] --destination NAME [--state failed|dead]"},
		summary:  "requeue a failed or dead delivery, or all of a destination's",
		flags:    []flagSpec{serverFlag, tokenFileFlag, {name: "destination", value: "NAME"}, {name: "state", value: "STATE", values: []string{"failed", "dead"}}},
		examples: []string{"herald deliveries retry 42", "herald deliveries retry --destination team-slack --state dead"},
	},
	{
		name:    "destinations",
		static:  true,
		summary: "list, test, enable and disable destinations of a running herald",
		about:   afterUsage(destinationsUsage),
		words:   []string{"list", "test", "enable", "disable"},
		examples: []string{
			"herald destinations list",
			"herald destinations test team-slack",
		},
	},
	{
		name:     "destinations list",
		summary:  "list the destinations and whether they are enabled",
		flags:    []flagSpec{serverFlag, tokenFileFlag},
		examples: []string{"herald destinations list --server https://herald.example.com --token-file ~/.herald-token"},
	},
	{
		name:     "destinations test",
		synopsis: []string{"destinations test [flags] NAME"},
		summary:  "send one marked test message to a destination now",
		exit:     "0 only when the platform accepted the message, 1 when not, 2 on bad usage.",
		flags:    []flagSpec{serverFlag, tokenFileFlag},
		examples: []string{"herald destinations test team-slack"},
	},
	{
		name:     "destinations enable",
		synopsis: []string{"destinations enable [flags] NAME"},
		summary:  "let a destination receive new events again",
		flags:    []flagSpec{serverFlag, tokenFileFlag},
		examples: []string{"herald destinations enable team-slack"},
	},
	{
		name:     "destinations disable",
		synopsis: []string{"destinations disable [flags] NAME"},
		summary:  "stop sending new events to a destination (queued ones still go)",
		flags:    []flagSpec{serverFlag, tokenFileFlag},
		examples: []string{"herald destinations disable team-slack"},
	},
	{
		name:    "healthcheck",
		summary: "exit 0 when a running herald is ready",
		about: `Asks a running herald's /readyz, on the address serve listens on, for images
without a shell or curl (a Docker HEALTHCHECK, a Kubernetes exec probe).`,
		exit:  "0 when ready, 1 otherwise with a one-line reason on stderr; never 2, which Docker reserves.",
		flags: []flagSpec{configFlag, listenFlag, {name: "url", value: "URL"}, {name: "timeout", value: "DURATION"}},
		examples: []string{
			"herald healthcheck --config /etc/herald/herald.yaml",
			"herald healthcheck --url http://127.0.0.1:8080/readyz --timeout 5s",
		},
	},
	{
		name:     "completion",
		synopsis: []string{"completion bash|zsh|fish"},
		summary:  "print a shell completion script",
		about: `Prints a script that completes herald's verbs, subcommands, flags and their
choices. Load it in the shell's start-up file.`,
		words: shells,
		examples: []string{
			"source <(herald completion bash)              # in ~/.bashrc",
			"source <(herald completion zsh)               # in ~/.zshrc, after compinit",
			"herald completion fish > ~/.config/fish/completions/herald.fish",
		},
	},
	{
		name:     "version",
		static:   true,
		summary:  "print herald's version",
		examples: []string{"herald version"},
	},
	{
		name:     "help",
		synopsis: []string{"help [VERB [SUBCOMMAND]]"},
		static:   true,
		summary:  "print the usage, or a verb's help",
		examples: []string{"herald help", "herald help deliveries retry"},
	},
}

// verbs are the table's verbs, in its order.
func verbs() []string {
	var out []string
	for _, c := range commands {
		if !strings.Contains(c.name, " ") {
			out = append(out, c.name)
		}
	}
	return out
}

// choices are what completes c's first argument.
func choices(c command) []string {
	if c.name == "help" {
		return verbs()
	}
	return c.words
}

// afterUsage is the text of a usage constant after its usage lines (its
// first blank line), "" if it has none.
func afterUsage(s string) string {
	_, rest, ok := strings.Cut(s, "\n\n")
	if !ok {
		return ""
	}
	return strings.TrimSpace(rest)
}

// lookup finds the entry of name ("deliveries list").
func lookup(name string) (command, bool) {
	i := slices.IndexFunc(commands, func(c command) bool { return c.name == name })
	if i < 0 {
		return command{}, false
	}
	return commands[i], true
}

// helpArgs turns the words after `herald help` into VERB [SUB] --help,
// dropping anything else: a verb must see -h before any argument, or it
// would run.
func helpArgs(words []string) []string {
	n := 1
	if len(words) > 1 {
		if _, ok := lookup(words[0] + " " + words[1]); ok {
			n = 2
		}
	}
	return append(slices.Clone(words[:n]), "--help")
}

// helpRequest is what parse returns for -h: run prints the FlagSet's help.
type helpRequest struct{ fs *flag.FlagSet }

func (helpRequest) Error() string { return "help requested" }

// isHelpArg reports whether a is a request for help.
func isHelpArg(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

// staticHelp answers `herald VERB --help` and `herald help ...` for the
// verbs that have no FlagSet of their own; ok is false for the others,
// which answer through parse.
func staticHelp(args []string, stdout io.Writer) (ok bool) {
	if len(args) != 2 || !isHelpArg(args[1]) {
		return false
	}
	c, found := lookup(args[0])
	if !found || !c.static {
		return false
	}
	printHelp(stdout, c, nil)
	return true
}

// printHelp writes c's help; fs, when not nil, gives its flags.
func printHelp(w io.Writer, c command, fs *flag.FlagSet) {
	fmt.Fprintln(w, "Usage:")
	synopsis := c.synopsis
	switch {
	case len(synopsis) > 0:
	case len(c.words) > 0 && c.static:
		synopsis = []string{c.name + " COMMAND [flags] [args]"}
	case c.static:
		synopsis = []string{c.name}
	default:
		synopsis = []string{c.name + " [flags]"}
	}
	for _, s := range synopsis {
		fmt.Fprintf(w, "  herald %s\n", s)
	}
	group := c.static && len(c.words) > 0 && c.name != "help"
	if group {
		fmt.Fprintln(w, "\nCommands:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, word := range c.words {
			if sub, ok := lookup(c.name + " " + word); ok {
				fmt.Fprintf(tw, "  %s\t%s\n", word, sub.summary)
			}
		}
		tw.Flush()
	}
	if c.summary != "" && c.about == "" && !group {
		fmt.Fprintf(w, "\n%s%s.\n", strings.ToUpper(c.summary[:1]), c.summary[1:])
	}
	if c.about != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(c.about, "\n"))
	}
	if group {
		fmt.Fprintf(w, "\nRun `herald %s COMMAND --help` for a command's flags and examples.\n", c.name)
	}
	if fs != nil {
		printFlags(w, c, fs)
	}
	if len(c.examples) > 0 {
		fmt.Fprintln(w, "\nExamples:")
		for _, e := range c.examples {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
	exit := c.exit
	if exit == "" {
		exit = "0 on success, 1 on a runtime failure, 2 on bad usage."
	}
	fmt.Fprintf(w, "\nExit status: %s\n", exit)
}

// printFlags lists fs's flags as --name VALUE, with the FlagSet's own
// description and default.
func printFlags(w io.Writer, c command, fs *flag.FlagSet) {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n == 0 {
		return
	}
	fmt.Fprintln(w, "\nFlags:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fs.VisitAll(func(f *flag.Flag) {
		placeholder, usage := flag.UnquoteUsage(f)
		if isBoolFlag(f) {
			placeholder = ""
		} else if i := slices.IndexFunc(c.flags, func(s flagSpec) bool { return s.name == f.Name }); i >= 0 && c.flags[i].value != "" {
			placeholder = c.flags[i].value
		}
		name := "--" + f.Name
		if placeholder != "" {
			name += " " + placeholder
		}
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" {
			usage += " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(tw, "  %s\t%s\n", name, usage)
	})
	tw.Flush()
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// answerHelp prints the help parse asked for; ok is false when err is not
// such a request.
func answerHelp(err error, stdout io.Writer) (ok bool) {
	var hr helpRequest
	if !errors.As(err, &hr) {
		return false
	}
	c, found := lookup(hr.fs.Name())
	if !found {
		c = command{name: hr.fs.Name()} // flags only, until it has an entry
	}
	printHelp(stdout, c, hr.fs)
	return true
}
