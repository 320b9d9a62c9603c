package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/riverqueue/river"
	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/adapters"
	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/delivery"
	"github.com/herald-ci/herald/internal/metrics"
	"github.com/herald-ci/herald/internal/notify"
	"github.com/herald-ci/herald/internal/reload"
	"github.com/herald-ci/herald/internal/server"
	"github.com/herald-ci/herald/internal/store"
	"github.com/herald-ci/herald/sources"
	"github.com/herald-ci/herald/templates"
)

// shutdownTimeout bounds a graceful stop: in-flight requests and sends.
const shutdownTimeout = 15 * time.Second

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parse parses args into fs. For -h it returns a helpRequest, which run
// answers on stdout with exit 0 (help.go); the flag package's own usage,
// which it prints for -h as for an error, is printed for errors only.
func parse(fs *flag.FlagSet, args []string) error {
	usage := fs.Usage
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.Usage = usage
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		return helpRequest{fs}
	}
	usage()
	return usageError{err}
}

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Default(os.Getenv)
	}
	return config.Load(path)
}

func newLogger(w io.Writer, format, level string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		return zerolog.Nop(), usagef("--log-level: %v", err)
	}
	switch format {
	case "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	default:
		return zerolog.Nop(), usagef("--log-format: %q is not json or console", format)
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}

func cmdServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	configPath := fs.String("config", "", "config file (default: built-in, see README)")
	logFormat := fs.String("log-format", "json", "json or console")
	logLevel := fs.String("log-level", "info", "debug, info, warn, error")
	listen := fs.String("listen", "", "host:port to listen on, overriding the config's listen")
	if err := parse(fs, args); err != nil {
		return err
	}
	log, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	// Beyond loopback, every enabled source must authenticate or say insecure: true.
	insecure, err := cfg.CheckExposure()
	if err != nil {
		return err
	}
	for _, name := range insecure {
		log.Warn().Str("source", name).Msg("source accepts requests without authentication (sources." + name + ".insecure: true)")
	}
	if cfg.Egress.AllowPrivate {
		log.Warn().Bool("allow_http", cfg.Egress.AllowHTTP).Msg("egress.allow_private is on: destinations on loopback and private addresses are allowed")
	}
	// The configuration is the file's plus the destinations the admin API
	// stored (reload.go), read before the store opens: the queue's job
	// timeout and attempt limit must cover those too.
	rc := &runtimeConfig{reloadSetup: reloadSetup{path: *configPath, listen: *listen}, log: log}
	stored, err := store.ReadDestinations(ctx, store.Config{Driver: cfg.Store.Driver, DSN: cfg.Store.DSN.Value()})
	if err != nil {
		return err
	}
	cfg, storedErr := rc.start(cfg, stored)
	if cfg == nil {
		return storedErr
	}
	if storedErr != nil {
		log.Error().Err(storedErr).Msg("destinations created through the admin API are not in force: the configuration with them does not load; fix or delete them through the API")
	}
	client := notify.NewClient(cfg.LongestTimeout(), cfg.Egress.Policy()) // destinations may set a longer timeout
	set, err := adapters.NewSet(cfg, client, log)
	if err != nil {
		return err
	}
	m := metrics.New()
	set.OnFallback(m.TemplateFallback)
	rt := &server.Runtime{Config: cfg, Adapters: set}

	// The workers look destinations up in whatever runtime is current.
	var srv *server.Server
	workers := river.NewWorkers()
	worker := delivery.New(senders{func() *server.Runtime { return srv.Runtime() }}, delivery.Config{
		Timeout: cfg.Delivery.Timeout,
		Policies: func(name string) (delivery.Policy, bool) {
			return delivery.PolicyOf(srv.Runtime().Config, name)
		},
		Metrics: m,
	}, log)
	if err := delivery.Register(workers, worker); err != nil {
		return err
	}
	pruner, err := store.RegisterPruner(workers)
	if err != nil {
		return err
	}
	scfg := store.Config{
		Driver:      cfg.Store.Driver,
		DSN:         cfg.Store.DSN.Value(),
		MaxAttempts: delivery.JobMaxAttempts(cfg), // covers every destination's own limit
		JobTimeout:  cfg.LongestTimeout(),
	}
	st, err := store.Open(ctx, scfg, workers, log)
	if err != nil {
		return err
	}
	defer st.Close()
	worker.CompleteWith(st)
	if cfg.Delivery.FirstAttemptFromMemory {
		// First attempts from memory (internal/store/lease.go): the store
		// leases the jobs it commits to the worker's pool.
		worker.StartMemory(st)
		defer worker.StopMemory(context.Background()) // on early returns; a no-op after the shutdown's
		st.DispatchTo(worker)
	}
	// River runs the pruning periodically and stops it with the store.
	if err := st.SchedulePrune(pruner, cfg.Delivery.Retention); err != nil {
		return err
	}
	srv = server.New(rt, st, m, log)
	m.SetBuildInfo(version)
	m.ConfigLoaded(time.Now(), false)
	if storedErr != nil {
		m.ConfigReloadFailed()
	}
	m.WatchDestinations(delivery.Gauges{Worker: worker, Store: st, Config: func() *config.Config { return srv.Runtime().Config }})
	// Reloads (SIGHUP, file watch, POST /-/reload) swap srv's runtime; the
	// worker reads it for every job. reload.go.
	rctx, stopReload := context.WithCancel(ctx)
	defer stopReload()
	rc.jobTimeout, rc.jobMaxAttempts, rc.store = scfg.JobTimeout, scfg.MaxAttempts, st
	rl := startReload(rctx, rc, srv, m, log)
	if cfg.Store.Driver == "postgres" {
		// Replicas: another one's admin API may change the destinations.
		go pollDestinations(rctx, st, rc.seen.Load, func(trigger string) error {
			_, err := rl.Reload(trigger)
			return err
		}, destinationsPoll, log)
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	if err := st.Start(ctx); err != nil {
		return err
	}
	srv.MountAdmin(http.MethodPost, reload.Path, rl.Handler(), config.RoleManager)
	hs := srv.HTTPServer(cfg.Listen)
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	log.Info().Str("listen", ln.Addr().String()).Str("version", version).Int("destinations", len(cfg.Destinations)).
		Str("store", cfg.Store.Driver).Msg("herald serving")

	select {
	case <-ctx.Done():
		log.Info().Msg("shutting down")
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http server: %w", err)
		}
	}
	srv.SetStopping()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		log.Warn().Err(err).Msg("http shutdown")
	}
	worker.StopMemory(sctx)
	if err := st.Stop(sctx); err != nil {
		log.Warn().Err(err).Msg("delivery shutdown")
	}
	log.Info().Msg("stopped")
	return nil
}

// senders resolves a destination name to its adapter in the current runtime.
type senders struct{ current func() *server.Runtime }

func (s senders) Sender(name string) (delivery.Sender, bool) {
	return s.current().Adapters.Get(name)
}

func cmdRender(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("render", stderr)
	configPath := fs.String("config", "", "config file, for its templates_dir")
	source := fs.String("source", "", "teamcity, appcenter or generic")
	adapter := fs.String("adapter", "slack", "slack, teams, teams-messagecard, teams-adaptive-card, webhook, console")
	templatesDir := fs.String("templates-dir", "", "extra template overrides, applied last")
	all := fs.Bool("all", false, "render every *.json event of the DIR argument (source from --source or each file name's prefix) for every adapter, or --adapter")
	outDir := fs.String("out", "", "with --all: write each rendering to this directory instead of stdout")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("render: give exactly one EVENT.json (or - for stdin), or --all DIR")
	}
	adapterSet := false
	fs.Visit(func(f *flag.Flag) { adapterSet = adapterSet || f.Name == "adapter" })
	dec, ok := sources.Lookup(*source)
	if !ok && !*all {
		return usagef("render: --source %q is not one of %v", *source, sources.Names())
	}
	var (
		globalDir string
		mentions  *templates.Mentions
	)
	if *configPath != "" {
		cfg, err := config.Load(*configPath)
		if err != nil {
			return err
		}
		globalDir = cfg.TemplatesDir
		mentions = adapters.MentionTable(cfg.Mentions)
	}
	ts, err := templates.Load(globalDir, *templatesDir)
	if err != nil {
		return err
	}
	if mentions != nil {
		ts = ts.WithMentions(mentions)
	}
	if *all {
		names := renderAdapters
		if adapterSet {
			names = []string{*adapter}
		}
		return renderAll(ts, fs.Arg(0), *source, names, *outDir, stdout, stderr)
	}
	body, err := readInput(fs.Arg(0))
	if err != nil {
		return usagef("render: %v", err)
	}
	ev, err := dec.Decode(body)
	if err != nil {
		return usagef("render: %s: %v", fs.Arg(0), err)
	}
	log := zerolog.New(stderr).With().Timestamp().Logger()
	a, err := adapters.ForRender(*adapter, ts, log)
	if err != nil {
		return usageError{err}
	}
	p, err := a.Build(ev)
	if err != nil {
		return err
	}
	if _, err := stdout.Write(p.Body); err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout)
	return err
}

func readInput(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(io.LimitReader(os.Stdin, config.DefaultMaxBodyBytes+1))
	}
	return os.ReadFile(name)
}

func cmdValidate(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("validate", stderr)
	configPath := fs.String("config", "", "config file")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *configPath == "" {
		return usagef("validate: --config is required")
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		return err
	}
	if _, err := adapters.NewSet(cfg, notify.NewClient(cfg.Delivery.Timeout, cfg.Egress.Policy()), zerolog.Nop()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: ok (%d destinations)\n", *configPath, len(cfg.Destinations))
	return nil
}
