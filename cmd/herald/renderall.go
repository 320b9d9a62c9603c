package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/adapters"
	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/sources"
	"github.com/herald-ci/herald/templates"
)

// renderAdapters are the renderings `herald render --all` makes of each
// event when --adapter is not given.
var renderAdapters = []string{"slack", "teams", "teams-messagecard", "teams-adaptive-card", "console"}

// renderAll renders every *.json event in dir for each adapter. The source
// of a file is source, or else its name's prefix (teamcity-…, appcenter-…,
// generic-…). With outDir, each rendering is written to
// outDir/<event>.<adapter>.json (.txt for the console); otherwise all are
// printed, each under a "== event · adapter" line. Every failure is
// reported; the error says how many there were.
func renderAll(ts *templates.Set, dir, source string, names []string, outDir string, stdout, stderr io.Writer) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return usagef("render --all: %v", err)
	}
	if len(files) == 0 {
		return usagef("render --all: no *.json event in %s", dir)
	}
	if outDir != "" {
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			return err
		}
	}
	log := zerolog.New(stderr).With().Timestamp().Logger()
	built := make([]adapters.Adapter, len(names))
	for i, n := range names {
		if built[i], err = adapters.ForRender(n, ts, log); err != nil {
			return usageError{err}
		}
	}
	failures := 0
	failf := func(format string, args ...any) {
		failures++
		fmt.Fprintf(stderr, format+"\n", args...)
	}
	for _, f := range files {
		base := strings.TrimSuffix(filepath.Base(f), ".json")
		src := source
		if src == "" {
			src, _, _ = strings.Cut(base, "-")
		}
		dec, ok := sources.Lookup(src)
		if !ok {
			failf("%s: source %q unknown (name files <source>-….json or give --source)", base, src)
			continue
		}
		body, err := os.ReadFile(f)
		if err != nil {
			failf("%s: %v", base, err)
			continue
		}
		ev, err := dec.Decode(body)
		if errors.Is(err, event.ErrIgnored) {
			fmt.Fprintf(stderr, "%s: not rendered: %v\n", base, err)
			continue
		}
		if err != nil {
			failf("%s: %v", base, err)
			continue
		}
		for i, a := range built {
			p, err := a.Build(ev)
			if err != nil {
				failf("%s · %s: %v", base, names[i], err)
				continue
			}
			if outDir == "" {
				fmt.Fprintf(stdout, "== %s · %s\n%s\n", base, names[i], p.Body)
				continue
			}
			ext := ".json"
			if names[i] == "console" {
				ext = ".txt"
			}
			if err := os.WriteFile(filepath.Join(outDir, base+"."+names[i]+ext), p.Body, 0o644); err != nil {
				return err
			}
		}
	}
	if outDir != "" {
		fmt.Fprintf(stdout, "%d events × %d adapters rendered into %s\n", len(files), len(names), outDir)
	}
	if failures > 0 {
		return fmt.Errorf("render --all: %d renderings failed", failures)
	}
	return nil
}
