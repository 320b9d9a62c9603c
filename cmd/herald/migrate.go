package main

import (
	"context"
	"fmt"
	"io"

	"github.com/herald-ci/herald/internal/store"
)

// cmdMigrate applies River's and herald's pending schema migrations to the
// configured store and exits. serve does the same at start, so this is
// optional; it lets an operator migrate a shared PostgreSQL database once,
// before rolling out replicas. The DSN is never printed: it may hold a
// password.
func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("migrate", stderr)
	configPath := fs.String("config", "", "config file (default: built-in, see README)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("migrate: unexpected arguments %q", fs.Args())
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	res, err := store.Migrate(ctx, store.Config{Driver: cfg.Store.Driver, DSN: cfg.Store.DSN.Value()})
	if err != nil {
		return err
	}
	if len(res.River)+len(res.Herald) == 0 {
		fmt.Fprintf(stdout, "%s store: schema up to date\n", cfg.Store.Driver)
		return nil
	}
	fmt.Fprintf(stdout, "%s store: applied River migrations %v, herald migrations %v\n", cfg.Store.Driver, res.River, res.Herald)
	return nil
}
