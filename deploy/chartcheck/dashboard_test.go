package chartcheck

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// heraldMetrics are the metric names herald serves (internal/metrics); the
// dashboard may read these and the Go client's process_* and go_*, nothing
// else. Histograms add _bucket, _sum and _count.
var heraldMetrics = map[string]bool{
	"herald_events_received_total":                        false,
	"herald_messages_rendered_total":                      false,
	"herald_template_fallbacks_total":                     false,
	"herald_delivery_attempts_total":                      false,
	"herald_deliveries_total":                             false,
	"herald_delivery_latency_seconds":                     true, // histogram
	"herald_delivery_attempt_duration_seconds":            true, // histogram
	"herald_queue_depth":                                  false,
	"herald_queue_oldest_pending_seconds":                 false,
	"herald_circuit_breaker_state":                        false,
	"herald_config_reloads_total":                         false,
	"herald_config_last_reload_success_timestamp_seconds": false,
	"herald_build_info":                                   false,
}

// knownMetric reports whether name is one herald serves.
func knownMetric(name string) bool {
	if strings.HasPrefix(name, "process_") || strings.HasPrefix(name, "go_") {
		return true
	}
	if _, ok := heraldMetrics[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && heraldMetrics[base] {
			return true
		}
	}
	return false
}

var (
	promStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	promMatchers = regexp.MustCompile(`\{[^{}]*\}`)
	promRanges   = regexp.MustCompile(`\[[^\[\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	promVars     = regexp.MustCompile(`\$\{?\w+\}?`)
	promIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
	promDuration = regexp.MustCompile(`\b(?:\d+(?:ms|[smhdwy]))+\b`)
	promNumber   = regexp.MustCompile(`\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\b`)
	promKeywords = []string{"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "and", "or", "unless", "inf", "nan"}
)

// metricNames lists the metric names a PromQL expression reads: the
// identifiers left once strings, label matchers, ranges, grouping clauses,
// dashboard variables, durations, numbers, keywords and function calls are taken out.
func metricNames(expr string) []string {
	e := promStrings.ReplaceAllString(expr, `""`)
	e = promMatchers.ReplaceAllString(e, " ")
	e = promRanges.ReplaceAllString(e, " ")
	e = promGrouping.ReplaceAllString(e, " ")
	e = promVars.ReplaceAllString(e, " ")
	e = promDuration.ReplaceAllString(e, " ")
	e = promNumber.ReplaceAllString(e, " ")
	var out []string
	for _, m := range promIdent.FindAllStringSubmatch(e, -1) {
		name := strings.TrimRight(strings.TrimSuffix(strings.TrimSpace(m[0]), "("), " ")
		if m[1] != "" || slices.Contains(promKeywords, strings.ToLower(name)) {
			continue // a function call or a keyword
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

func TestMetricNames(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`sum by (source, outcome) (rate(herald_events_received_total{job=~"$job", outcome="a b"}[$__rate_interval]))`, []string{"herald_events_received_total"}},
		{`histogram_quantile(0.95, sum by (le) (rate(x_bucket{a="{b}"}[5m])))`, []string{"x_bucket"}},
		{`time() - max by (instance) (last_ts)`, []string{"last_ts"}},
		{`a / on(instance) group_left(version) b or vector(0)`, []string{"a", "b"}},
		{`count(c == 1) > bool 2e3 unless d offset 5m`, []string{"c", "d"}},
		{`rate(e[1h30m]) offset 1h30m + 0.5`, []string{"e"}},
	}
	for _, tc := range tests {
		if got := metricNames(tc.expr); !slices.Equal(got, tc.want) {
			t.Errorf("metricNames(%s) = %q, want %q", tc.expr, got, tc.want)
		}
	}
}

// panel is the part of a Grafana panel the checks read.
type panel struct {
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource json.RawMessage `json:"datasource"`
	Targets    []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

func TestDashboard(t *testing.T) {
	b, err := os.ReadFile("../grafana/herald.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title      string  `json:"title"`
		UID        string  `json:"uid"`
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name       string          `json:"name"`
				Type       string          `json:"type"`
				Query      any             `json:"query"`
				Datasource json.RawMessage `json:"datasource"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if d.Title == "" || d.UID == "" {
		t.Error("the dashboard needs a title and a uid")
	}

	// A data source variable, used by every panel; label_values queries
	// read known metrics too.
	var exprs []string
	hasDS := false
	for _, v := range d.Templating.List {
		switch {
		case v.Type == "datasource" && v.Name == "datasource":
			hasDS = v.Query == "prometheus"
		case v.Type == "query":
			if !strings.Contains(string(v.Datasource), `"${datasource}"`) {
				t.Errorf("variable %s: datasource %s is not ${datasource}", v.Name, v.Datasource)
			}
			q := v.Query
			if m, ok := q.(map[string]any); ok {
				q = m["query"]
			}
			s, _ := q.(string)
			inner, ok := strings.CutPrefix(s, "label_values(")
			if !ok {
				t.Errorf("variable %s: query %q is not label_values(...)", v.Name, s)
				continue
			}
			// label_values(metric{...}, label): the metric only.
			exprs = append(exprs, strings.TrimSpace(inner[:strings.LastIndex(inner, ",")]))
		}
	}
	if !hasDS {
		t.Error("no datasource variable of type prometheus")
	}

	var rows []string
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type == "row" {
				rows = append(rows, strings.ToLower(p.Title))
				walk(p.Panels)
				continue
			}
			if !strings.Contains(string(p.Datasource), `"${datasource}"`) {
				t.Errorf("panel %q: datasource %s is not ${datasource}", p.Title, p.Datasource)
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q: no queries", p.Title)
			}
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("panel %q: an empty query", p.Title)
				}
				exprs = append(exprs, tg.Expr)
			}
		}
	}
	walk(d.Panels)
	for _, want := range []string{"ingest", "delivery", "queue", "breaker", "reload", "process"} {
		if !slices.ContainsFunc(rows, func(r string) bool { return strings.Contains(r, want) }) {
			t.Errorf("no row about %s (rows: %q)", want, rows)
		}
	}

	used := map[string]bool{}
	for _, e := range exprs {
		if strings.Count(e, "(") != strings.Count(e, ")") || strings.Count(e, "{") != strings.Count(e, "}") {
			t.Errorf("unbalanced brackets: %s", e)
		}
		names := metricNames(e)
		if len(names) == 0 {
			t.Errorf("reads no metric: %s", e)
		}
		for _, n := range names {
			if !knownMetric(n) {
				t.Errorf("unknown metric %q in %s", n, e)
			}
			used[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")] = true
		}
	}
	for n := range heraldMetrics {
		if !used[n] {
			t.Errorf("herald's metric %s is on no panel", n)
		}
	}
}

// TestMetricsExist holds heraldMetrics to what herald's code registers, so
// a renamed metric fails here rather than leave a panel empty.
func TestMetricsExist(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot, "internal", "*", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("herald's sources: %v", err)
	}
	var src strings.Builder
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src.Write(b)
	}
	for n := range heraldMetrics {
		if !strings.Contains(src.String(), `"`+n+`"`) {
			t.Errorf("%s is not a metric name in herald's internal packages", n)
		}
	}
}
