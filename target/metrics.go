package target

import (
	"net/http"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// LatencyHistogram is a cumulative histogram of command latencies.
type LatencyHistogram struct {
	// Op names the operation kind ("read", "write", "other").
	Op string
	// Count is the number of observations.
	Count uint64
	// Sum is the total of the observations in seconds.
	Sum float64
	// Buckets maps each upper bound in seconds to the cumulative count
	// of observations at or below it.
	Buckets map[float64]uint64
}

// MetricsSource returns the iSCSI layer's current numbers; it is called
// on every scrape and must be safe for concurrent use.
type MetricsSource func() ServerStats

// MetricsConfig configures Metrics.
type MetricsConfig struct {
	// Store provides the LUN, initiator group, map and target gauges;
	// nil leaves them out.
	Store *Store
	// Source provides the iSCSI numbers; nil leaves them out.
	Source MetricsSource
}

// Metrics exports the target's numbers to Prometheus through a private
// registry (never the global one).
type Metrics struct {
	reg *prometheus.Registry
}

// NewMetrics returns the metrics of cfg, registered in a new registry.
func NewMetrics(cfg MetricsConfig) *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&metricsCollector{store: cfg.Store, source: cfg.Source})
	return &Metrics{reg: reg}
}

// Registry returns the private registry, to add collectors to it.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// The metric descriptions.
var (
	metricsLUNs        = prometheus.NewDesc("lunar_target_luns", "LUNs configured.", nil, nil)
	metricsLUNBytes    = prometheus.NewDesc("lunar_target_lun_capacity_bytes", "Total capacity of the LUNs.", nil, nil)
	metricsIGroups     = prometheus.NewDesc("lunar_target_igroups", "Initiator groups configured.", nil, nil)
	metricsMaps        = prometheus.NewDesc("lunar_target_lun_maps", "LUN maps configured.", nil, nil)
	metricsTargets     = prometheus.NewDesc("lunar_target_targets", "Targets configured.", nil, nil)
	metricsCommands    = prometheus.NewDesc("lunar_target_commands_total", "SCSI commands executed.", nil, nil)
	metricsBytesIn     = prometheus.NewDesc("lunar_target_write_bytes_total", "SCSI write data received.", nil, nil)
	metricsBytesOut    = prometheus.NewDesc("lunar_target_read_bytes_total", "SCSI read data sent.", nil, nil)
	metricsLogins      = prometheus.NewDesc("lunar_target_logins_total", "Successful logins.", nil, nil)
	metricsSessions    = prometheus.NewDesc("lunar_target_sessions", "Sessions in the full feature phase.", nil, nil)
	metricsConnections = prometheus.NewDesc("lunar_target_connections", "Open connections.", nil, nil)
	metricsErrors      = prometheus.NewDesc("lunar_target_errors_total", "Errors by kind.", []string{"kind"}, nil)
	metricsLatency     = prometheus.NewDesc("lunar_target_command_duration_seconds", "SCSI command latency.", []string{"op"}, nil)
)

// metricsCollector reads the store and the source at each scrape.
type metricsCollector struct {
	store  *Store
	source MetricsSource
}

// Describe sends every description.
func (c *metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{metricsLUNs, metricsLUNBytes, metricsIGroups, metricsMaps, metricsTargets,
		metricsCommands, metricsBytesIn, metricsBytesOut, metricsLogins, metricsSessions, metricsConnections,
		metricsErrors, metricsLatency} {
		ch <- d
	}
}

// Collect sends the current values.
func (c *metricsCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	if c.store != nil {
		n := c.store.Counts()
		gauge(metricsLUNs, float64(n.LUNs))
		gauge(metricsLUNBytes, float64(n.Capacity))
		gauge(metricsIGroups, float64(n.IGroups))
		gauge(metricsMaps, float64(n.Maps))
		gauge(metricsTargets, float64(n.Targets))
	}
	if c.source == nil {
		return
	}
	s := c.source()
	counter(metricsCommands, s.Commands)
	counter(metricsBytesIn, s.BytesIn)
	counter(metricsBytesOut, s.BytesOut)
	counter(metricsLogins, s.Logins)
	gauge(metricsSessions, float64(s.Sessions))
	gauge(metricsConnections, float64(s.Connections))
	kinds := make([]string, 0, len(s.Errors))
	for k := range s.Errors {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		counter(metricsErrors, s.Errors[k], k)
	}
	for _, h := range s.Latency {
		ch <- prometheus.MustNewConstHistogram(metricsLatency, h.Count, h.Sum, h.Buckets, h.Op)
	}
}
