package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/herald-ci/herald/adapters"
	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/metrics"
	"github.com/herald-ci/herald/internal/notify"
	"github.com/herald-ci/herald/internal/reload"
	"github.com/herald-ci/herald/internal/server"
	"github.com/herald-ci/herald/internal/store"
)

// reloadSetup is what serve fixed at start that a reload must respect.
type reloadSetup struct {
	path           string // --config; empty: the built-in config, not watched
	listen         string // --listen, applied to every reloaded config
	jobTimeout     time.Duration
	jobMaxAttempts int
}

// newAdapters builds a configuration's adapters with serve's HTTP client:
// egress rules enforced, the longest destination timeout.
func newAdapters(c *config.Config, log zerolog.Logger) (*adapters.Set, error) {
	return adapters.NewSet(c, notify.NewClient(c.LongestTimeout(), c.Egress.Policy()), log)
}

// triggerStore is the reload trigger of the poll that found another
// replica's change of the destinations (a write through this server's
// admin API reloads with server.ReloadTrigger, "api").
const triggerStore = "store"

// destinationsPoll is how often a replica sharing a PostgreSQL store looks
// whether another one changed the destinations through the admin API: one
// indexed single-row read.
const destinationsPoll = 2 * time.Second

// storeReadTimeout bounds reading the stored destinations during a reload.
const storeReadTimeout = 10 * time.Second

// destinationReader is what composing needs of the store.
type destinationReader interface {
	StoredDestinations(ctx context.Context) (store.DestinationSet, error)
}

// runtimeConfig composes the configuration serve runs on, the same way at
// start-up, on every reload (SIGHUP, file watch, POST /-/reload, a change
// through the admin API, another replica's change) and for every check of
// an admin API write: the config file as serve reads it (--listen applied,
// the exposure rule checked) and the destinations the admin API stored,
// by server.Compose.
type runtimeConfig struct {
	reloadSetup
	store destinationReader // set once the store is open
	log   zerolog.Logger
	// seen is the version of the stored destinations the last composition
	// read: the poll reloads when the store's moves past it.
	seen atomic.Int64
}

// file loads the config file as serve runs it.
func (r *runtimeConfig) file() (*config.Config, error) {
	c, err := loadConfig(r.path)
	if err != nil {
		return nil, err
	}
	if r.listen != "" {
		c.Listen = r.listen
	}
	// The start-up rule holds for every config: beyond loopback, each
	// enabled source authenticates or says insecure: true.
	if _, err := c.CheckExposure(); err != nil {
		return nil, err
	}
	return c, nil
}

// load is the Reloader's Load: the file and the store read afresh and
// composed.
func (r *runtimeConfig) load() (*config.Config, error) {
	file, err := r.file()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeReadTimeout)
	defer cancel()
	set, err := r.store.StoredDestinations(ctx)
	if err != nil {
		return nil, err
	}
	r.seen.Store(set.Version)
	c, warnings, err := server.Compose(file, set.Destinations)
	for _, w := range warnings {
		r.log.Warn().Str("problem", w).Msg("stored destination ignored")
	}
	return c, err
}

// start composes the configuration serve starts on from the file's and
// the destinations read before the store opened. If the ones created
// through the admin API make it invalid (the file's egress rules were
// tightened since, say), herald starts without them, with an error in the
// log: refusing to start would leave no running herald whose API could
// fix them. The file's destinations disabled through the API stay
// disabled either way.
func (r *runtimeConfig) start(file *config.Config, set store.DestinationSet) (*config.Config, error) {
	r.seen.Store(set.Version)
	c, warnings, err := server.Compose(file, set.Destinations)
	for _, w := range warnings {
		r.log.Warn().Str("problem", w).Msg("stored destination ignored")
	}
	if err == nil {
		return c, nil
	}
	var overrides []store.DestinationRecord
	for _, d := range set.Destinations {
		if d.Origin == store.OriginConfig {
			overrides = append(overrides, d)
		}
	}
	c, _, ferr := server.Compose(file, overrides)
	if ferr != nil {
		return nil, ferr
	}
	return c, err
}

// check is the admin API's Admin.Check: what a reload with these stored
// destinations would do, short of installing it.
func (r *runtimeConfig) check(_ context.Context, stored []store.DestinationRecord) error {
	file, err := r.file()
	if err != nil {
		return err
	}
	c, _, err := server.Compose(file, stored)
	if err != nil {
		return err
	}
	// Reload refuses this too (compare); say what to do about it.
	if t := r.jobTimeout; t > 0 && c.LongestTimeout() > t {
		return fmt.Errorf("timeout: at most %s, the longest this herald started with (raise delivery.timeout in the config file and restart for more)", t)
	}
	set, err := newAdapters(c, zerolog.Nop())
	if err != nil {
		return err
	}
	return reload.Check(c, set)
}

// startReload wires hot reload into serve: SIGHUP and a watch on the
// config file and its templates directories reload until ctx ends; the
// Reloader's Handler serves POST /-/reload; the admin API's writes check
// and reload through rc. A watch that can't be set up is logged; SIGHUP
// and /-/reload still work.
func startReload(ctx context.Context, rc *runtimeConfig, srv *server.Server, m *metrics.Metrics, log zerolog.Logger) *reload.Reloader {
	s := rc.reloadSetup
	rl := reload.New(reload.Options{
		Load:           rc.load,
		NewSet:         newAdapters,
		Target:         srv,
		Metrics:        m,
		Log:            log,
		JobTimeout:     s.jobTimeout,
		JobMaxAttempts: s.jobMaxAttempts,
	})
	srv.SetAdmin(server.Admin{
		Check: rc.check,
		Reload: func(trigger string) ([]string, error) {
			res, err := rl.Reload(trigger)
			return res.Warnings, err
		},
	})

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		rl.OnSignal(ctx, hup)
	}()

	if s.path != "" {
		w, err := rl.Watch(s.path, reload.DefaultDebounce)
		if err != nil {
			log.Warn().Err(err).Msg("config file not watched; SIGHUP or POST /-/reload reload it")
		} else {
			go w.Run(ctx)
		}
	}
	return rl
}

// versionSource is what the poll needs of the store.
type versionSource interface {
	DestinationsVersion(ctx context.Context) (int64, error)
}

// pollDestinations reloads when the stored destinations' version differs
// from the one the last composition read (seen): another replica changed
// them through its admin API. Each version is tried once: a reload that
// fails (logged and counted by the Reloader) is not repeated every tick;
// the next change, SIGHUP or file save tries again. It returns when ctx
// ends.
func pollDestinations(ctx context.Context, src versionSource, seen func() int64, reloadNow func(trigger string) error, every time.Duration, log zerolog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	tried := int64(-1)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		qctx, cancel := context.WithTimeout(ctx, every)
		v, err := src.DestinationsVersion(qctx)
		cancel()
		if err != nil {
			log.Debug().Err(err).Msg("destinations version not read")
			continue
		}
		if v == seen() || v == tried {
			continue
		}
		tried = v
		_ = reloadNow(triggerStore)
	}
}
