package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// result is what one target did under the scenario.
type result struct {
	Target     string        `json:"target"`
	ReadyMS    float64       `json:"ready_ms"`
	IdleRSSKB  int64         `json:"idle_rss_kb"`
	IdleAnonKB int64         `json:"idle_rss_anon_kb"`
	PeakRSSKB  int64         `json:"peak_rss_kb"`
	CPU        time.Duration `json:"-"`
	CPUWindow  time.Duration `json:"-"` // from the first request until the deliveries were in (or -drain ran out)
	WriteBytes int64         `json:"write_bytes"`
	Fsyncs     int64         `json:"fsyncs"` // fsync + fdatasync calls during load and drain; -1 unknown

	Sent      int         `json:"sent"`
	Accepted  int         `json:"accepted"`
	Errors    int         `json:"transport_errors"`
	Statuses  map[int]int `json:"statuses"`
	LoadSecs  float64     `json:"load_seconds"` // first request due until last answer
	Delivered int         `json:"delivered_events"`
	// Undelivered counts accepted messages (event × destination) that never
	// reached the sink before the drain ended. They count in the
	// ingest→sink percentiles as arriving at the drain's end, which makes
	// those percentiles lower bounds (printed with ≥).
	Undelivered int     `json:"undelivered_messages"`
	DrainSecs   float64 `json:"drain_seconds"` // last answer until last arrival

	AcceptedPerSec  float64 `json:"accepted_per_sec"`
	DeliveredPerSec float64 `json:"delivered_per_sec"`
	IngestP50MS     float64 `json:"ingest_p50_ms"`
	IngestP99MS     float64 `json:"ingest_p99_ms"`
	IngestMaxMS     float64 `json:"ingest_max_ms"`
	SinkP50MS       float64 `json:"sink_p50_ms"`
	SinkP99MS       float64 `json:"sink_p99_ms"`
	SinkMaxMS       float64 `json:"sink_max_ms"`
	CPUSecPer1000   float64 `json:"cpu_seconds_per_1000_events"`
	CPUCores        float64 `json:"cpu_cores_busy"`

	Sink    sinkStats   `json:"sink"`
	Samples []rssSample `json:"-"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// percentile of sorted d, nearest rank.
func percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(d)))) - 1
	return d[max(0, min(i, len(d)-1))]
}

// compute fills the figures from the requests and the sink's arrivals.
func (r *result) compute(reqs []sent, first, last, drainEnd time.Time, arr map[arrivalKey]arrivalRec, dests map[string]string) {
	r.Sent = len(reqs)
	r.Statuses = map[int]int{}
	r.LoadSecs = last.Sub(first).Seconds()
	ingest := make([]time.Duration, 0, len(reqs))
	var toSink []time.Duration
	lastArrival := int64(0)
	for _, s := range reqs {
		// Every request counts in the ingest latency, whatever the answer:
		// a timeout is a latency too.
		ingest = append(ingest, s.latency)
		if s.status == 0 {
			r.Errors++
		} else {
			r.Statuses[s.status]++
		}
		if !s.ok {
			continue
		}
		r.Accepted++
		all := true
		for d := range dests {
			a, ok := arr[arrivalKey{d, s.id}]
			if !ok {
				all = false
				r.Undelivered++
				toSink = append(toSink, time.Duration(drainEnd.UnixNano()-s.at))
				continue
			}
			toSink = append(toSink, time.Duration(a.first-s.at))
			lastArrival = max(lastArrival, a.first)
		}
		if all {
			r.Delivered++
		}
	}
	slices.Sort(ingest)
	slices.Sort(toSink)
	r.IngestP50MS, r.IngestP99MS = ms(percentile(ingest, .5)), ms(percentile(ingest, .99))
	r.SinkP50MS, r.SinkP99MS = ms(percentile(toSink, .5)), ms(percentile(toSink, .99))
	if len(ingest) > 0 {
		r.IngestMaxMS = ms(ingest[len(ingest)-1])
	}
	if len(toSink) > 0 {
		r.SinkMaxMS = ms(toSink[len(toSink)-1])
	}
	if r.LoadSecs > 0 {
		r.AcceptedPerSec = float64(r.Accepted) / r.LoadSecs
	}
	if lastArrival > 0 {
		span := time.Duration(lastArrival - first.UnixNano())
		r.DeliveredPerSec = float64(r.Delivered) / span.Seconds()
		r.DrainSecs = max(0, time.Duration(lastArrival-last.UnixNano()).Seconds())
	}
	if r.Accepted > 0 {
		r.CPUSecPer1000 = r.CPU.Seconds() / float64(r.Accepted) * 1000
	}
	if r.CPUWindow > 0 {
		r.CPUCores = r.CPU.Seconds() / r.CPUWindow.Seconds()
	}
}

// row is one line of the table: a label, how to print a value, and the
// issue's target for herald, if it has one.
type row struct {
	label string
	// lowerBound says the value is at least what is printed.
	lowerBound func(r *result) bool
	value      func(r *result) float64
	format     string
	// target checks herald's value (h) against the relay's (rel); empty
	// text means no target.
	target string
	ok     func(h, rel float64) bool
	// lowerIsBetter only informs the reader; ratios are always herald/relay.
}

func undelivered(r *result) bool { return r.Undelivered > 0 }

func rows(o options) []row {
	mb := func(kb int64) float64 { return float64(kb) / 1024 }
	sinkTarget := ""
	if o.open && o.rate == 500 {
		sinkTarget = "≤ 100 ms at 500/s"
	}
	return []row{
		{label: "events/s accepted", value: func(r *result) float64 { return r.AcceptedPerSec }, format: "%.0f"},
		{label: "events/s delivered to the sink", value: func(r *result) float64 { return r.DeliveredPerSec }, format: "%.0f",
			target: "≥ 0.5× relay", ok: func(h, rel float64) bool { return h >= 0.5*rel }},
		{label: "ingest latency p50 (ms)", value: func(r *result) float64 { return r.IngestP50MS }, format: "%.2f"},
		{label: "ingest latency p99 (ms)", value: func(r *result) float64 { return r.IngestP99MS }, format: "%.2f",
			target: "≤ 2× relay", ok: func(h, rel float64) bool { return h <= 2*rel }},
		{label: "ingest latency max (ms)", value: func(r *result) float64 { return r.IngestMaxMS }, format: "%.1f"},
		{label: "ingest→sink p50 (ms)", value: func(r *result) float64 { return r.SinkP50MS }, format: "%.2f", lowerBound: undelivered},
		{label: "ingest→sink p99 (ms)", value: func(r *result) float64 { return r.SinkP99MS }, format: "%.2f", lowerBound: undelivered,
			target: sinkTarget, ok: func(h, _ float64) bool { return o.rate != 500 || h <= 100 }},
		{label: "ingest→sink max (ms)", value: func(r *result) float64 { return r.SinkMaxMS }, format: "%.1f", lowerBound: undelivered},
		{label: "peak RSS (MB, VmHWM)", value: func(r *result) float64 { return mb(r.PeakRSSKB) }, format: "%.1f",
			target: "≤ 40 MB", ok: func(h, _ float64) bool { return h <= 40 }},
		{label: "idle RSS (MB, after ready)", value: func(r *result) float64 { return mb(r.IdleRSSKB) }, format: "%.1f",
			target: "≤ 20 MB", ok: func(h, _ float64) bool { return h <= 20 }},
		{label: "  of which anonymous (MB)", value: func(r *result) float64 { return mb(r.IdleAnonKB) }, format: "%.1f"},
		{label: "ready after exec (ms)", value: func(r *result) float64 { return r.ReadyMS }, format: "%.0f",
			target: "≤ 200 ms", ok: func(h, _ float64) bool { return h <= 200 }},
		{label: "CPU s per 1,000 events", value: func(r *result) float64 { return r.CPUSecPer1000 }, format: "%.3f"},
		{label: "CPU cores busy (load+drain)", value: func(r *result) float64 { return r.CPUCores }, format: "%.2f"},
		{label: "disk writes (KB/event)", value: func(r *result) float64 {
			if r.Accepted == 0 {
				return 0
			}
			return float64(r.WriteBytes) / 1024 / float64(r.Accepted)
		}, format: "%.1f"},
		{label: "fsync calls per event", value: func(r *result) float64 {
			if r.Accepted == 0 || r.Fsyncs < 0 {
				return math.NaN()
			}
			return float64(r.Fsyncs) / float64(r.Accepted)
		}, format: "%.2f"},
		{label: "drain after load (s)", value: func(r *result) float64 { return r.DrainSecs }, format: "%.1f"},
	}
}

func printReport(w io.Writer, o options, rs []*result) {
	var relay, herald *result
	for _, r := range rs {
		switch r.Target {
		case "relay":
			relay = r
		case "herald":
			herald = r
		}
	}
	load := fmt.Sprintf("%d connections, closed loop, %s", o.conns, o.duration)
	if o.open {
		load = fmt.Sprintf("%.0f events/s, open loop, %s (%d events)", o.rate, o.duration, int(o.rate*o.duration.Seconds()))
	}
	fmt.Fprintf(w, "\nscenario %s: %s; herald store %s; relay %s; 2 destinations (slack 200 ok, teams 202) on a loopback sink%s\n",
		o.scenario.name, load, storeLabel(o.store), o.relayMode, sinkLabel(o))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	header := []string{"metric"}
	for _, r := range rs {
		header = append(header, r.Target)
	}
	if relay != nil && herald != nil {
		header = append(header, "herald/relay")
	}
	if herald != nil {
		header = append(header, "target (herald)")
	}
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	for _, rw := range rows(o) {
		cells := []string{rw.label}
		for _, r := range rs {
			switch v := rw.value(r); {
			case math.IsNaN(v):
				cells = append(cells, "n/a")
			case rw.lowerBound != nil && rw.lowerBound(r):
				cells = append(cells, "≥ "+fmt.Sprintf(rw.format, v))
			default:
				cells = append(cells, fmt.Sprintf(rw.format, v))
			}
		}
		if relay != nil && herald != nil {
			h, rel := rw.value(herald), rw.value(relay)
			if rel != 0 && !math.IsNaN(h) && !math.IsNaN(rel) {
				cells = append(cells, fmt.Sprintf("%.2f×", h/rel))
			} else {
				cells = append(cells, "-")
			}
		}
		if herald != nil {
			t := ""
			if rw.target != "" {
				rel := math.NaN()
				if relay != nil {
					rel = rw.value(relay)
				}
				verdict := "ok"
				if math.IsNaN(rel) && strings.Contains(rw.target, "relay") {
					verdict = "?"
				} else if !rw.ok(rw.value(herald), rel) {
					verdict = "MISS"
				} else if rw.lowerBound != nil && rw.lowerBound(herald) {
					verdict = "?" // only a lower bound is known
				}
				t = rw.target + " " + verdict
			}
			cells = append(cells, t)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	tw.Flush()
	for _, r := range rs {
		var notes []string
		notes = append(notes, fmt.Sprintf("%d sent, %d accepted", r.Sent, r.Accepted))
		for code, n := range r.Statuses {
			if code != 202 {
				notes = append(notes, fmt.Sprintf("%d answered %d", n, code))
			}
		}
		if r.Errors > 0 {
			notes = append(notes, fmt.Sprintf("%d transport errors", r.Errors))
		}
		if r.Statuses[202] != r.Accepted {
			notes = append(notes, fmt.Sprintf("%d answered 202 but not \"accepted\"", r.Statuses[202]-r.Accepted))
		}
		if r.Undelivered > 0 {
			notes = append(notes, fmt.Sprintf("%d messages NOT delivered within the drain (counted as arriving when it ended: ingest→sink figures are lower bounds)", r.Undelivered))
		}
		s := r.Sink
		notes = append(notes, fmt.Sprintf("sink: %d requests, %d duplicates, %d unmarked, %d throttled, %d failed", s.Requests, s.Duplicates, s.Unmarked, s.Throttled, s.Failed))
		fmt.Fprintf(w, "  %s: %s\n", r.Target, strings.Join(notes, "; "))
	}
	if o.scenario.name == "soak" || o.sample >= 10*time.Second {
		printSamples(w, rs)
	}
}

func storeLabel(s string) string {
	if s == "sqlite" {
		return "sqlite (WAL, synchronous=FULL)"
	}
	return "postgres"
}

func sinkLabel(o options) string {
	var parts []string
	if o.sinkDelay > 0 {
		parts = append(parts, "delay "+o.sinkDelay.String())
	}
	if o.sinkThrottle > 0 {
		parts = append(parts, fmt.Sprintf("%.0f%% 429", o.sinkThrottle*100))
	}
	if o.sinkFail > 0 {
		parts = append(parts, fmt.Sprintf("%.0f%% 500", o.sinkFail*100))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// printSamples prints the RSS series side by side.
func printSamples(w io.Writer, rs []*result) {
	fmt.Fprintln(w, "\nRSS over time (MB, VmRSS), seconds since exec:")
	for _, r := range rs {
		var b strings.Builder
		for _, s := range r.Samples {
			fmt.Fprintf(&b, " %.0fs:%.1f", s.at.Seconds(), float64(s.rss)/1024)
		}
		fmt.Fprintf(w, "  %s:%s\n", r.Target, b.String())
	}
}

func writeJSON(path string, o options, rs []*result) error {
	type sample struct {
		Seconds float64 `json:"s"`
		RSSKB   int64   `json:"rss_kb"`
	}
	type out struct {
		*result
		CPUSeconds float64  `json:"cpu_seconds"`
		RSS        []sample `json:"rss"`
	}
	doc := struct {
		Scenario string  `json:"scenario"`
		Store    string  `json:"store"`
		Open     bool    `json:"open_loop"`
		Rate     float64 `json:"rate,omitempty"`
		Conns    int     `json:"conns,omitempty"`
		Duration string  `json:"duration"`
		Results  []out   `json:"results"`
	}{Scenario: o.scenario.name, Store: o.store, Open: o.open, Duration: o.duration.String()}
	if o.open {
		doc.Rate = o.rate
	} else {
		doc.Conns = o.conns
	}
	for _, r := range rs {
		x := out{result: r, CPUSeconds: r.CPU.Seconds()}
		for _, s := range r.Samples {
			x.RSS = append(x.RSS, sample{s.at.Seconds(), s.rss})
		}
		doc.Results = append(doc.Results, x)
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
