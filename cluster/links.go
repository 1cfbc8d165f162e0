package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// nodeLinks are the nodes' emulated links (benchmarks, LocalConfig.Latency): for each node a toxiproxy in
// front of the target's portal and one in front of its management API.
type nodeLinks struct {
	server *toxiproxy.ApiServer

	mu      sync.Mutex
	proxies []*toxiproxy.Proxy
}

func newNodeLinks(log zerolog.Logger) (*nodeLinks, error) {
	// toxiproxy logs every accepted connection at info level and every
	// closed one at warn level.
	log = log.Level(max(log.GetLevel(), zerolog.ErrorLevel))
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), log)
	return &nodeLinks{server: srv}, nil
}

// add starts node i's two proxies and returns their addresses.
func (b *nodeLinks) add(i int, portal, storageURL string) (string, string, error) {
	p, err := b.start(fmt.Sprintf("node%d-portal", i), portal)
	if err != nil {
		return "", "", err
	}
	api, ok := strings.CutPrefix(storageURL, "http://")
	if !ok {
		return "", "", fmt.Errorf("%w: cluster: link: storage URL %q is not http://", ErrInvalid, storageURL)
	}
	s, err := b.start(fmt.Sprintf("node%d-storage", i), strings.TrimSuffix(api, "/"))
	if err != nil {
		return "", "", err
	}
	return p.Listen, "http://" + s.Listen, nil
}

func (b *nodeLinks) start(name, upstream string) (*toxiproxy.Proxy, error) {
	p := toxiproxy.NewProxy(b.server, name, "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("cluster: link %s: %w", name, err)
	}
	b.mu.Lock()
	b.proxies = append(b.proxies, p)
	b.mu.Unlock()
	return p, nil
}

// Names of the latency toxics.
const (
	linkToxicUp   = "rtt-upstream"
	linkToxicDown = "rtt-downstream"
)

// setLatency gives every link a round-trip time of rtt: half of it on the
// way to the target, the rest on the way back.
func (b *nodeLinks) setLatency(rtt time.Duration) error {
	up := rtt.Milliseconds() / 2
	down := rtt.Milliseconds() - up
	b.mu.Lock()
	proxies := slices.Clone(b.proxies)
	b.mu.Unlock()
	ctx := context.Background()
	for _, p := range proxies {
		for _, name := range []string{linkToxicUp, linkToxicDown} {
			if err := p.Toxics.RemoveToxic(ctx, name); err != nil && !errors.Is(err, toxiproxy.ErrToxicNotFound) {
				return fmt.Errorf("cluster: link %s: %w", p.Name, err)
			}
		}
		for _, t := range []struct {
			name, stream string
			ms           int64
		}{{linkToxicUp, "upstream", up}, {linkToxicDown, "downstream", down}} {
			if t.ms == 0 {
				continue
			}
			js := fmt.Sprintf(`{"name":%q,"type":"latency","stream":%q,"toxicity":1,"attributes":{"latency":%d}}`, t.name, t.stream, t.ms)
			if _, err := p.Toxics.AddToxicJson(strings.NewReader(js)); err != nil {
				return fmt.Errorf("cluster: link %s: latency: %w", p.Name, err)
			}
		}
	}
	return nil
}

// close stops every proxy and drops its connections.
func (b *nodeLinks) close() {
	b.mu.Lock()
	proxies := b.proxies
	b.proxies = nil
	b.mu.Unlock()
	for _, p := range proxies {
		p.Stop()
	}
}
