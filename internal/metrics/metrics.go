// Package metrics holds herald's Prometheus metrics on a registry of its
// own, served at /metrics. Labels carry only bounded values (source names,
// outcomes), never URLs, secrets or event text.
package metrics

import (
	"net/http"

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
	Failed    = "failed"    // the store could not commit: 503
	Overload  = "overload"  // more deliveries queued than limits.max_queue_depth: 503
)

// Metrics are the collectors herald updates.
type Metrics struct {
	reg               *prometheus.Registry
	Events            *prometheus.CounterVec // by source, outcome
	TemplateFallbacks prometheus.Counter     // a user template failed; the default was sent
}

// New registers herald's collectors and the Go runtime's on a new registry.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_events_received_total",
			Help: "Inbound events by source and outcome (accepted, duplicate, ignored, rejected, failed, overload).",
		}, []string{"source", "outcome"}),
		TemplateFallbacks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_template_fallbacks_total",
			Help: "Renderings where a user template failed and the built-in default was sent instead (the log says which and why).",
		}),
	}
	reg.MustRegister(m.Events, m.TemplateFallbacks, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}
