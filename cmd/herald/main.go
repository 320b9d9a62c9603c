// Command herald turns CI/CD events into Slack and Teams messages.
//
//	herald serve [--config FILE]
//	herald render [--config FILE] --source NAME --adapter slack|teams|teams-messagecard EVENT.json
//	herald validate --config FILE
//	herald version
//
// main only parses flags and wires packages together; the work is in them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is stamped at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // runtime failure
	exitUsage = 2 // bad flags or input
)

const usage = `herald turns CI/CD events into Slack and Microsoft Teams messages.

Usage:
  herald serve    [--config FILE] [--listen HOST:PORT] [--log-format json|console] [--log-level info]
  herald render   [--config FILE] --source teamcity|appcenter|generic --adapter slack|teams|teams-messagecard|teams-adaptive-card EVENT.json
  herald render   --all [--config FILE] [--source NAME] [--adapter NAME] [--out DIR] DIR
  herald send-test [--config FILE] --destination NAME [--source NAME --event EVENT.json]
  herald validate --config FILE
  herald config print [--config FILE]   (the effective config as YAML, secrets redacted)
  herald migrate  [--config FILE]
  herald deliveries list|show ID|retry ID|retry --destination NAME [--server URL]
  herald destinations list|test NAME|enable NAME|disable NAME [--server URL]
  herald healthcheck [--config FILE] [--listen HOST:PORT] [--url URL]   (exit 0 when /readyz says ready)
  herald completion bash|zsh|fish   (a shell completion script)
  herald version
  herald help [VERB [SUBCOMMAND]]

Without --config, serve listens on 127.0.0.1:8080, stores to ./herald.db and
sends to SLACK_WEBHOOK_URL / TEAMS_WEBHOOK_URL, or logs messages to the console.

Run "herald VERB --help" for a verb's flags and examples.

Exit status:
  0  success
  1  runtime failure: a config that does not load, a store or server that
     cannot be reached, a message the platform refused
  2  usage error: unknown verb or flag, missing or bad argument
     (healthcheck answers 1 instead: Docker reserves 2)
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	if staticHelp(args, stdout) { // help.go
		return exitOK
	}
	if args[0] == "help" && len(args) > 1 {
		// herald help VERB [SUB] is herald VERB [SUB] --help.
		return run(helpArgs(args[1:]), stdout, stderr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "serve":
		err = cmdServe(ctx, args[1:], stderr)
	case "render":
		err = cmdRender(args[1:], stdout, stderr)
	case "validate":
		err = cmdValidate(args[1:], stdout, stderr)
	case "migrate":
		err = cmdMigrate(ctx, args[1:], stdout, stderr)
	case "deliveries":
		err = cmdDeliveries(ctx, args[1:], stdout, stderr)
	case "destinations":
		err = cmdDestinations(ctx, args[1:], stdout, stderr)
	case "config":
		err = cmdConfig(args[1:], stdout, stderr)
	case "send-test":
		err = cmdSendTest(ctx, args[1:], stdout, stderr)
	case "healthcheck":
		err = cmdHealthcheck(ctx, args[1:], stdout, stderr)
	case "completion":
		err = cmdCompletion(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "herald", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "herald: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	if answerHelp(err, stdout) { // a verb's -h (help.go)
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "herald:", err)
		var ue usageError
		if errors.As(err, &ue) || errors.Is(err, flag.ErrHelp) {
			return exitUsage
		}
		return exitError
	}
	return exitOK
}

// usageError marks bad flags or input: exit code 2.
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }
