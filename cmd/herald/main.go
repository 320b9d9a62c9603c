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
  herald migrate  [--config FILE]
  herald deliveries list|show ID|retry ID|retry --destination NAME [--server URL]
  herald version

Without --config, serve listens on 127.0.0.1:8080, stores to ./herald.db and
sends to SLACK_WEBHOOK_URL / TEAMS_WEBHOOK_URL, or logs messages to the console.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
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
	case "send-test":
		err = cmdSendTest(ctx, args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "herald", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "herald: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
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
