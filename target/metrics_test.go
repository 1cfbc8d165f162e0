package target

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

func TestMetrics(t *testing.T) {
	s := storeTestOpen(t, t.TempDir())
	storeTestLUN(t, s, "a", 1<<20)
	storeTestLUN(t, s, "b", 1<<20)
	storeTestIGroup(t, s, "g", storeTestInit1)
	storeTestMap(t, s, "a", "g", nil)
	src := func() ServerStats {
		return ServerStats{Commands: 10, BytesIn: 4096, BytesOut: 8192, Logins: 2, Sessions: 1, Connections: 1,
			Errors: map[string]uint64{ErrorKindDigest: 3, ErrorKindLogin: 1}}
	}
	withLatency := func() ServerStats {
		m := src()
		m.Latency = []LatencyHistogram{{Op: "read", Count: 4, Sum: 0.01, Buckets: map[float64]uint64{0.001: 1, 0.01: 4}}}
		return m
	}
	m := NewMetrics(MetricsConfig{Store: s, Source: withLatency})
	c := apiTestListen(t, s, APIConfig{Metrics: m.Handler()})
	text, err := c.Metrics(context.Background())
	wantNoErr(t, err)
	for _, want := range []string{
		"lunar_target_luns 2",
		"lunar_target_lun_capacity_bytes 2.097152e+06",
		"lunar_target_igroups 1",
		"lunar_target_lun_maps 1",
		"lunar_target_targets 1",
		"lunar_target_commands_total 10",
		"lunar_target_read_bytes_total 8192",
		"lunar_target_write_bytes_total 4096",
		"lunar_target_sessions 1",
		`lunar_target_errors_total{kind="digest"} 3`,
		`lunar_target_command_duration_seconds_bucket{op="read",le="0.01"} 4`,
		`lunar_target_command_duration_seconds_count{op="read"} 4`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q:\n%s", want, text)
		}
	}
	// /metrics needs the token like the rest.
	bad := NewClient(c.base.String(), "wrong-token-wrong-token", c.hc)
	_, err = bad.Metrics(context.Background())
	wantAPIError(t, err, http.StatusUnauthorized, APICodeUnauthorized)
}
