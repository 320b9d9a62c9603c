// Command driver measures herald against a bare relay on this machine and
// prints one table: throughput, latencies, memory, CPU and start-up time,
// herald's figures also as a ratio of the relay's.
//
//	go run ./bench/driver -scenario sustained|burst|steady|soak [-store sqlite|postgres] [flags]
//
// It builds herald, bench/sink and bench/relay with `go build`, starts the
// sink, then for each target (-targets, relay then herald by default) starts
// the target, measures how soon it is ready and its idle memory, runs the
// scenario against it, waits until every accepted event reached the sink
// (or -drain passes), reads the target's CPU time and peak memory from
// /proc, and stops it. The targets run one after the other, never together,
// so neither steals the other's CPU. Everything listens on 127.0.0.1 and
// every scenario stops by itself. See bench/README.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/herald-ci/herald/bench/internal/mark"
)

// scenario is one kind of load and its defaults.
type scenario struct {
	name     string
	open     bool          // open loop (a schedule) or closed loop (N connections)
	duration time.Duration // closed loop: how long; open loop: how long the schedule runs
	rate     float64       // open loop: events per second
	conns    int           // closed loop: connections
	drain    time.Duration // after the load: how long to wait for deliveries
	sample   time.Duration // RSS sampling interval
}

var scenarios = map[string]scenario{
	// The sustained maximum: 32 connections posting back to back.
	"sustained": {name: "sustained", duration: 20 * time.Second, conns: 32, drain: 120 * time.Second, sample: time.Second},
	// 5,000 events due within one second.
	"burst": {name: "burst", open: true, duration: time.Second, rate: 5000, drain: 180 * time.Second, sample: time.Second},
	// 500 events/s for a minute, on a schedule.
	"steady": {name: "steady", open: true, duration: 60 * time.Second, rate: 500, drain: 60 * time.Second, sample: time.Second},
	// Ten minutes at 100/s, memory sampled every 10 s. Not for CI.
	"soak": {name: "soak", open: true, duration: 10 * time.Minute, rate: 100, drain: 120 * time.Second, sample: 10 * time.Second},
}

type options struct {
	scenario
	store        string
	pgDSN        string
	targets      []string
	maxOpen      int
	timeout      time.Duration
	idle         time.Duration
	fixture      string
	maxInFlight  int
	fromMemory   bool // delivery.first_attempt_from_memory
	logLevel     string
	relayMode    string
	sinkDelay    time.Duration
	sinkThrottle float64
	sinkFail     float64
	perfOut      string
	jsonOut      string
	keep         bool
	heraldBin    string
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "driver:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "driver:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("driver", flag.ContinueOnError)
	name := fs.String("scenario", "sustained", "sustained | burst | steady | soak")
	store := fs.String("store", "sqlite", "herald's store: sqlite | postgres (DSN from -pg-dsn)")
	pgDSN := fs.String("pg-dsn", os.Getenv("HERALD_TEST_POSTGRES_DSN"), "PostgreSQL server for -store postgres; each run gets a schema of its own, dropped afterwards")
	targets := fs.String("targets", "relay,herald", "what to measure, in order: relay, herald")
	duration := fs.Duration("duration", 0, "how long the load runs (default: the scenario's)")
	rate := fs.Float64("rate", 0, "open-loop scenarios: events per second (default: the scenario's)")
	events := fs.Int("events", 0, "burst: events (sent within -duration, default 1s)")
	conns := fs.Int("conns", 0, "sustained: concurrent connections (default 32)")
	maxOpen := fs.Int("max-open", 256, "open-loop scenarios: most requests in flight at once (herald answers 503 beyond its limits.max_concurrent_requests, 256 by default)")
	drain := fs.Duration("drain", 0, "after the load, how long to wait for deliveries (default: the scenario's)")
	sample := fs.Duration("sample", 0, "RSS sampling interval (default 1s; soak 10s)")
	timeout := fs.Duration("timeout", 60*time.Second, "one request's timeout")
	idle := fs.Duration("idle", 2*time.Second, "wait after ready before reading idle RSS")
	fixture := fs.String("fixture", "sources/sourcestest/testdata/teamcity-build-finished-failure.json", "TeamCity build event every request is made from (relative to the module root)")
	maxInFlight := fs.Int("max-in-flight", 20, "herald: max_in_flight of each destination")
	fromMemory := fs.Bool("memory", false, "herald: delivery.first_attempt_from_memory (experimental)")
	logLevel := fs.String("log-level", "info", "herald's --log-level (its log goes to a file)")
	relayMode := fs.String("relay-mode", "sync", "relay: sync (answer after forwarding) | async (answer, then forward)")
	sinkDelay := fs.Duration("sink-delay", 0, "sink: hold every answer this long")
	sinkThrottle := fs.Float64("sink-throttle", 0, "sink: fraction of deliveries answered 429 Retry-After: 1")
	sinkFail := fs.Float64("sink-fail", 0, "sink: fraction of deliveries answered 500")
	perfOut := fs.String("perf", "", "record herald's CPU with perf (perf record -g) during load and drain into this file, and print where the time went")
	jsonOut := fs.String("json", "", "also write the results as JSON to this file")
	keep := fs.Bool("keep", false, "keep the temporary directory (configs, logs, databases)")
	heraldBin := fs.String("herald-bin", "", "use this herald binary instead of building ./cmd/herald")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	sc, ok := scenarios[*name]
	if !ok {
		return options{}, fmt.Errorf("-scenario %q is not sustained, burst, steady or soak", *name)
	}
	o := options{scenario: sc, store: *store, pgDSN: *pgDSN, maxOpen: *maxOpen, timeout: *timeout, idle: *idle,
		fixture: *fixture, maxInFlight: *maxInFlight, fromMemory: *fromMemory, logLevel: *logLevel, relayMode: *relayMode,
		sinkDelay: *sinkDelay, sinkThrottle: *sinkThrottle, sinkFail: *sinkFail, perfOut: *perfOut,
		jsonOut: *jsonOut, keep: *keep, heraldBin: *heraldBin}
	if *duration > 0 {
		o.duration = *duration
	}
	if *rate > 0 {
		o.rate = *rate
	}
	if *events > 0 {
		if sc.name != "burst" {
			return o, errors.New("-events is for -scenario burst; use -rate and -duration")
		}
		o.rate = float64(*events) / o.duration.Seconds()
	}
	if *conns > 0 {
		o.conns = *conns
	}
	if *drain > 0 {
		o.drain = *drain
	}
	if *sample > 0 {
		o.sample = *sample
	}
	for _, t := range strings.Split(*targets, ",") {
		if t != "relay" && t != "herald" {
			return o, fmt.Errorf("-targets: %q is not relay or herald", t)
		}
		o.targets = append(o.targets, t)
	}
	switch {
	case o.store != "sqlite" && o.store != "postgres":
		return o, fmt.Errorf("-store %q is not sqlite or postgres", o.store)
	case o.store == "postgres" && o.pgDSN == "":
		return o, errors.New(`-store postgres needs -pg-dsn or HERALD_TEST_POSTGRES_DSN (eval "$(scripts/pg.sh)")`)
	case o.relayMode != "sync" && o.relayMode != "async":
		return o, fmt.Errorf("-relay-mode %q is not sync or async", o.relayMode)
	}
	return o, nil
}

// bins are the programs under test.
type bins struct{ herald, sink, relay string }

func build(root, dir, heraldBin string) (bins, error) {
	b := bins{herald: heraldBin, sink: filepath.Join(dir, "sink"), relay: filepath.Join(dir, "relay")}
	pkgs := [][2]string{{b.sink, "./bench/sink"}, {b.relay, "./bench/relay"}}
	if b.herald == "" {
		b.herald = filepath.Join(dir, "herald")
		pkgs = append(pkgs, [2]string{b.herald, "./cmd/herald"})
	}
	for _, p := range pkgs {
		// As scripts/build.sh builds herald (static, no cgo, -trimpath) but
		// with its symbol table kept (no -s -w), so perf can name functions.
		cmd := exec.Command("go", "build", "-trimpath", "-o", p[0], p[1])
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return b, fmt.Errorf("go build %s: %w", p[1], err)
		}
	}
	return b, nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run the driver inside herald's module (go run ./bench/driver)")
	}
	return filepath.Dir(gomod), nil
}

func run(ctx context.Context, o options) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	fixturePath := o.fixture
	if !filepath.IsAbs(fixturePath) {
		fixturePath = filepath.Join(root, fixturePath)
	}
	fx, err := os.ReadFile(fixturePath)
	if err != nil {
		return err
	}
	body, err := mark.NewBody(fx)
	if err != nil {
		return fmt.Errorf("%s: %w", o.fixture, err)
	}
	dir, err := os.MkdirTemp("", "herald-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(os.Stderr, "driver: keeping", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	fmt.Fprintln(os.Stderr, "driver: building herald, sink and relay")
	b, err := build(root, dir, o.heraldBin)
	if err != nil {
		return err
	}

	sinkPort, err := freePort()
	if err != nil {
		return err
	}
	sk, err := startProc("sink", b.sink, dir, filepath.Join(dir, "sink.log"),
		"-addr", fmt.Sprintf("127.0.0.1:%d", sinkPort), "-delay", o.sinkDelay.String(),
		"-throttle", fmt.Sprint(o.sinkThrottle), "-fail", fmt.Sprint(o.sinkFail))
	if err != nil {
		return err
	}
	defer sk.stop(5 * time.Second)
	sink := &sinkClient{base: fmt.Sprintf("http://127.0.0.1:%d", sinkPort)}
	if _, err := sk.waitReady(sink.base+"/readyz", 10*time.Second); err != nil {
		return err
	}
	dests := map[string]string{
		"slack": sink.base + "/slack/T0BENCH/B0BENCH/bench",
		"teams": sink.base + "/teams/workflows/bench?sig=bench",
	}

	results := make([]*result, 0, len(o.targets))
	// Ids: 24 random bits for the run, 8 for the target, 32 for the event.
	runID := uint64(rand.Uint32()&0xffffff) << 40
	for i, target := range o.targets {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := sink.reset(); err != nil {
			return err
		}
		r, err := measure(ctx, o, target, b, dir, body, runID|uint64(i)<<32, dests, sink)
		if err != nil {
			return fmt.Errorf("%s: %w", target, err)
		}
		results = append(results, r)
	}
	printReport(os.Stdout, o, results)
	if o.jsonOut != "" {
		if err := writeJSON(o.jsonOut, o, results); err != nil {
			return err
		}
	}
	return nil
}

// measure runs the scenario against one target.
func measure(ctx context.Context, o options, target string, b bins, dir string, body *mark.Body, idBase uint64,
	dests map[string]string, sink *sinkClient) (*result, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	r := &result{Target: target}
	var p *proc
	var dropSchema func()
	switch target {
	case "relay":
		p, err = startProc("relay", b.relay, dir, filepath.Join(dir, "relay.log"),
			"-addr", addr, "-mode", o.relayMode, "-targets", dests["slack"]+","+dests["teams"])
	case "herald":
		hdir := filepath.Join(dir, "herald-"+o.store)
		if err := os.MkdirAll(hdir, 0o755); err != nil {
			return nil, err
		}
		dsn := "herald.db"
		if o.store == "postgres" {
			if dsn, dropSchema, err = pgSchema(ctx, o.pgDSN); err != nil {
				return nil, err
			}
			defer dropSchema()
		}
		cfgPath := filepath.Join(hdir, "herald.yaml")
		if err := os.WriteFile(cfgPath, []byte(heraldConfig(addr, o.store, dsn, dests, o.maxInFlight, o.fromMemory)), 0o600); err != nil {
			return nil, err
		}
		p, err = startProc("herald", b.herald, hdir, filepath.Join(dir, "herald.log"),
			"serve", "--config", cfgPath, "--log-level", o.logLevel)
	}
	if err != nil {
		return nil, err
	}
	defer p.stop(30 * time.Second)

	ready, err := p.waitReady("http://"+addr+"/readyz", 60*time.Second)
	if err != nil {
		return nil, err
	}
	r.ReadyMS = ms(ready)
	p.sampleRSS(o.sample)
	time.Sleep(o.idle)
	if st, err := readStatus(p.pid()); err == nil {
		r.IdleRSSKB, r.IdleAnonKB = st.rss, st.anon
	}

	var prof *perfRecording
	if o.perfOut != "" && target == "herald" {
		if prof, err = startPerf(p.pid(), o.perfOut); err != nil {
			return nil, err
		}
	}
	fsyncs := startFsyncCount(p.pid(), filepath.Join(dir, target+".fsync.csv"))
	cpu0, _ := readCPU(p.pid())
	cpuFrom := time.Now()
	wb0 := readWriteBytes(p.pid())

	url := "http://" + addr + "/v1/events/teamcity"
	var reqs []sent
	var first, last time.Time
	if o.open {
		n := int(o.rate * o.duration.Seconds())
		fmt.Fprintf(os.Stderr, "driver: %s: %d events at %.0f/s (open loop)\n", target, n, o.rate)
		l := newLoad(url, body, idBase, o.maxOpen, o.timeout)
		reqs, first, last = l.openLoop(ctx, n, o.rate, o.maxOpen)
	} else {
		fmt.Fprintf(os.Stderr, "driver: %s: %d connections for %s (closed loop)\n", target, o.conns, o.duration)
		l := newLoad(url, body, idBase, o.conns, o.timeout)
		reqs, first, last = l.closedLoop(ctx, o.conns, o.duration)
	}

	accepted := 0
	for _, s := range reqs {
		if s.ok {
			accepted++
		}
	}
	want := accepted * len(dests)
	fmt.Fprintf(os.Stderr, "driver: %s: %d accepted; waiting up to %s for %d deliveries\n", target, accepted, o.drain, want)
	drainEnd := time.Now().Add(o.drain)
	for time.Now().Before(drainEnd) && ctx.Err() == nil {
		st, err := sink.stats()
		if err != nil {
			return nil, err
		}
		if st.Arrivals >= want {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	measured := time.Now()
	cpu1, err := readCPU(p.pid())
	if err != nil {
		return nil, err
	}
	r.CPUWindow = time.Since(cpuFrom)
	r.Fsyncs = fsyncs.stop()
	wb1 := readWriteBytes(p.pid())
	st, err := readStatus(p.pid())
	if err != nil {
		return nil, err
	}
	if prof != nil {
		if err := prof.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "driver: perf:", err)
		}
	}
	r.Samples = p.stopSampling()
	r.PeakRSSKB = st.hwm
	r.CPU = cpu1 - cpu0
	if wb0 >= 0 && wb1 >= 0 {
		r.WriteBytes = wb1 - wb0
	}
	arr, err := sink.arrivals()
	if err != nil {
		return nil, err
	}
	sst, err := sink.stats()
	if err != nil {
		return nil, err
	}
	r.Sink = sst
	r.compute(reqs, first, last, measured, arr, dests)
	p.stop(30 * time.Second)
	if prof != nil {
		prof.report(os.Stdout)
	}
	return r, nil
}

// heraldConfig is herald's config for the run: two destinations on the
// sink, one Slack and one Teams Workflows, with the client-side rate limits
// raised far above anything this machine can send, so that the limiter is
// not what is measured. (Teams' sliding window must stay: its type default
// has one. Its limit is kept at 10,000 per second because the limiter keeps
// the last `limit` send times in memory.)
func heraldConfig(listen, driver, dsn string, dests map[string]string, maxInFlight int, fromMemory bool) string {
	return fmt.Sprintf(`# written by bench/driver
listen: %s
store: {driver: %s, dsn: %s}
delivery: {first_attempt_from_memory: %t}
egress: {allow_private: true}
destinations:
  - name: slack
    type: slack
    url: %s
    rate_limit: {per_second: 100000, burst: 100000}
    max_in_flight: %d
  - name: teams
    type: teams
    format: workflows
    url: %s
    rate_limit: {per_second: 100000, burst: 100000, window: {limit: 10000, period: 1s}}
    max_in_flight: %d
`, listen, driver, strconv.Quote(dsn), fromMemory, strconv.Quote(dests["slack"]), maxInFlight, strconv.Quote(dests["teams"]), maxInFlight)
}

// pgSchema creates a schema of its own for this run on the server and
// returns a DSN that selects it, and a func that drops it.
func pgSchema(ctx context.Context, base string) (string, func(), error) {
	schema := fmt.Sprintf("herald_bench_%d_%d", time.Now().Unix(), rand.IntN(1e6))
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, base)
	if err != nil {
		return "", nil, fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(cctx)
	if _, err := conn.Exec(cctx, "CREATE SCHEMA "+schema); err != nil {
		return "", nil, fmt.Errorf("postgres: create schema: %w", err)
	}
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			fmt.Fprintln(os.Stderr, "driver: drop schema:", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			fmt.Fprintln(os.Stderr, "driver: drop schema:", err)
		}
	}
	dsn := base
	if u, err := url.Parse(base); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		dsn = u.String()
	} else {
		dsn += " search_path=" + schema
	}
	return dsn, drop, nil
}

// sinkClient talks to the sink's control endpoints.
type sinkClient struct{ base string }

type sinkStats struct {
	Requests   int64 `json:"requests"`
	Arrivals   int   `json:"arrivals"`
	Duplicates int64 `json:"duplicates"`
	Unmarked   int64 `json:"unmarked"`
	Throttled  int64 `json:"throttled"`
	Failed     int64 `json:"failed"`
	Bad        int64 `json:"bad"`
}

func (s *sinkClient) reset() error {
	resp, err := http.Post(s.base+"/_sink/reset", "", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

func (s *sinkClient) stats() (sinkStats, error) {
	var st sinkStats
	resp, err := http.Get(s.base + "/_sink/stats")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// arrivalKey is a destination and an event id.
type arrivalKey struct {
	dest string
	id   uint64
}

type arrivalRec struct {
	first int64 // unix ns
	count int
}

func (s *sinkClient) arrivals() (map[arrivalKey]arrivalRec, error) {
	resp, err := http.Get(s.base + "/_sink/arrivals")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := map[arrivalKey]arrivalRec{}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) != 4 {
			continue
		}
		id, err1 := strconv.ParseUint(f[1], 16, 64)
		first, err2 := strconv.ParseInt(f[2], 10, 64)
		n, err3 := strconv.Atoi(f[3])
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("sink arrivals: %q: %w", line, err)
		}
		out[arrivalKey{f[0], id}] = arrivalRec{first, n}
	}
	return out, nil
}
