// Package metrics holds herald's Prometheus metrics on a registry of its
// own, served at /metrics. Labels carry only bounded values (source and
// destination names from the config, template names, outcomes), never URLs,
// secrets, ids or event text.
//
// It owns the collectors and their names; the packages that do the work
// update them (server: events and renderings; delivery: attempts and
// outcomes; reload: config reloads). It must not import them: what it reads
// at scrape time (breakers, queue depth) comes through Destinations.
package metrics

import (
	"errors"
	"net/http"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Event outcomes, the values of the "outcome" label.
const (
	Accepted  = "accepted"  // committed with its deliveries
	Duplicate = "duplicate" // a repeat of an accepted event
	Ignored   = "ignored"   // well formed, of a type herald does not handle
	Rejected  = "rejected"  // bad input: 4xx, nothing stored
	// Unauthorized: the source's authentication failed (401).
	Unauthorized = "unauthorized"
	// Throttled: too many failed authentications from the address (429).
	Throttled = "throttled"
	Failed    = "failed"   // the store could not commit: 503
	Overload  = "overload" // more deliveries queued than limits.max_queue_depth: 503
)

// Delivery attempt results, the values of herald_delivery_attempts_total's
// "result" label. One per send to a platform; a job that waits for its turn
// or is given up before sending makes none.
const (
	// AttemptDelivered: the platform accepted and posted it (Slack's 200 ok).
	AttemptDelivered = "delivered"
	// AttemptAccepted: the platform took it to post later (Teams
	// Workflows' 202); herald can't see what happens next.
	AttemptAccepted = "accepted"
	// AttemptRetry: a retryable failure (5xx, timeout, network error). Whether
	// another attempt follows depends on the limits: deliveries that ran out
	// are herald_deliveries_total{outcome="dead"}.
	AttemptRetry = "retry"
	// AttemptThrottled: the platform asked to wait (429, or a Retry-After);
	// the delivery snoozes without spending an attempt.
	AttemptThrottled = "throttled"
	// AttemptFailed: a final answer (400, 403, 404, 410...): never resent.
	AttemptFailed = "failed"
	// AttemptTooLarge: the platform refused the payload's size; a smaller
	// rendering may follow as a second send of the same attempt.
	AttemptTooLarge = "too_large"
)

// Delivery outcomes, the values of herald_deliveries_total's "outcome"
// label: how each delivery job ended, once.
const (
	DeliveryDelivered = "delivered" // the platform took it (posted or accepted)
	DeliveryFailed    = "failed"    // a final error, or its destination left the config
	DeliveryDead      = "dead"      // attempts or max age exhausted
)

// Config reload results, the values of herald_config_reloads_total's
// "result" label.
const (
	ReloadSuccess = "success"
	ReloadFailure = "failure"
)

// Histogram buckets.
var (
	// latencyBuckets span a delivery from event to platform: tens of
	// milliseconds when the first attempt succeeds, up to max age (24 h by
	// default) when it is retried.
	latencyBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600}
	// attemptBuckets span one send, up to the default attempt timeout (10 s)
	// and beyond for destinations with a longer one.
	attemptBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
)

// Metrics are the collectors herald updates.
type Metrics struct {
	reg    *prometheus.Registry
	Events *prometheus.CounterVec // by source, outcome

	templateFallbacks *prometheus.CounterVec // template

	rendered        *prometheus.CounterVec   // destination
	attempts        *prometheus.CounterVec   // destination, result
	deliveries      *prometheus.CounterVec   // destination, outcome
	latency         *prometheus.HistogramVec // destination
	attemptDuration *prometheus.HistogramVec // destination

	reloads          *prometheus.CounterVec // result
	lastReloadTime   prometheus.Gauge
	lastReloadResult prometheus.Gauge

	buildInfo *prometheus.GaugeVec // version, revision, goversion
}

// New registers herald's collectors and the Go runtime's on a new registry.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_events_received_total",
			Help: "Inbound events by source and outcome (accepted, duplicate, ignored, rejected, unauthorized, throttled, failed, overload).",
		}, []string{"source", "outcome"}),
		templateFallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_template_fallbacks_total",
			Help: "Renderings where a user template failed and the built-in default was sent instead, by the template that failed (the log says why).",
		}, []string{"template"}),
		rendered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_messages_rendered_total",
			Help: "Messages rendered for a destination from an accepted event (one per delivery job).",
		}, []string{"destination"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_delivery_attempts_total",
			Help: "Sends to a platform by destination and result (delivered, accepted, retry, throttled, failed, too_large).",
		}, []string{"destination", "result"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_deliveries_total",
			Help: "Deliveries ended, by destination and outcome (delivered, failed: final error, dead: attempts or max age exhausted).",
		}, []string{"destination", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "herald_delivery_latency_seconds",
			Help:    "Time from the event's acceptance to the platform's acceptance of its message, retries included.",
			Buckets: latencyBuckets,
		}, []string{"destination"}),
		attemptDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "herald_delivery_attempt_duration_seconds",
			Help:    "Duration of one send to a platform, whatever its result.",
			Buckets: attemptBuckets,
		}, []string{"destination"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_config_reloads_total",
			Help: "Configuration reloads by result (success, failure); a failed one leaves the running configuration in place.",
		}, []string{"result"}),
		lastReloadTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_config_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last successful configuration load (start-up or reload).",
		}),
		lastReloadResult: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_config_last_reload_successful",
			Help: "1 if the last configuration load (start-up or reload) succeeded, 0 if it failed.",
		}),
		buildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "herald_build_info",
			Help: "Always 1; the labels say which herald build is running.",
		}, []string{"version", "revision", "goversion"}),
	}
	// Both results exist from the start, so rate() and alerts on failures
	// see a 0 before the first reload.
	m.reloads.WithLabelValues(ReloadSuccess)
	m.reloads.WithLabelValues(ReloadFailure)
	reg.MustRegister(m.Events, m.templateFallbacks, m.rendered, m.attempts, m.deliveries, m.latency,
		m.attemptDuration, m.reloads, m.lastReloadTime, m.lastReloadResult, m.buildInfo,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Gatherer is the registry, for tests (prometheus/testutil).
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// Rendered counts one message rendered for destination.
func (m *Metrics) Rendered(destination string) {
	m.rendered.WithLabelValues(destination).Inc()
}

// TemplateFallback counts one rendering where a user template failed and
// the built-in default was sent instead: the hook for the adapters' template
// sets (adapters.Set.OnFallback). The "template" label is the template that
// failed, e.g. slack.build.message, taken from err's TemplateName method
// (templates.FallbackError has it; this package must not import templates):
// a name from the template set, never event text. "unknown" when err has
// none.
func (m *Metrics) TemplateFallback(err error) {
	name := "unknown"
	var named interface{ TemplateName() string }
	if errors.As(err, &named) && named.TemplateName() != "" {
		name = named.TemplateName()
	}
	m.templateFallbacks.WithLabelValues(name).Inc()
}

// Attempt records one send to destination: its result (Attempt*) and how
// long it took.
func (m *Metrics) Attempt(destination, result string, took time.Duration) {
	m.attempts.WithLabelValues(destination, result).Inc()
	m.attemptDuration.WithLabelValues(destination).Observe(took.Seconds())
}

// Delivered records a delivery the platform took, latency after its event
// was accepted.
func (m *Metrics) Delivered(destination string, latency time.Duration) {
	m.deliveries.WithLabelValues(destination, DeliveryDelivered).Inc()
	m.latency.WithLabelValues(destination).Observe(max(latency, 0).Seconds())
}

// Ended records a delivery that ended without reaching its platform:
// outcome is DeliveryFailed or DeliveryDead.
func (m *Metrics) Ended(destination, outcome string) {
	m.deliveries.WithLabelValues(destination, outcome).Inc()
}

// ConfigLoaded records a successful configuration load at t: start-up
// (reload false) or a reload.
func (m *Metrics) ConfigLoaded(t time.Time, reload bool) {
	if reload {
		m.reloads.WithLabelValues(ReloadSuccess).Inc()
	}
	m.lastReloadTime.Set(float64(t.UnixNano()) / 1e9)
	m.lastReloadResult.Set(1)
}

// ConfigReloadFailed records a reload that was refused; the running
// configuration stays.
func (m *Metrics) ConfigReloadFailed() {
	m.reloads.WithLabelValues(ReloadFailure).Inc()
	m.lastReloadResult.Set(0)
}

// SetBuildInfo sets herald_build_info. version is the one stamped at build
// time (-ldflags "-X main.version=..."); the revision comes from the VCS
// information Go records in the binary, "unknown" when it has none (a
// build with -buildvcs=false, or outside a repository).
func (m *Metrics) SetBuildInfo(version string) {
	revision := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if (version == "" || version == "dev") && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version // go install module@version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				revision = s.Value
			}
		}
	}
	if version == "" {
		version = "dev"
	}
	m.buildInfo.Reset()
	m.buildInfo.WithLabelValues(version, revision, runtime.Version()).Set(1)
}
