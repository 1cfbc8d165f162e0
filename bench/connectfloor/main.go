// Command connectfloor measures the CPU floor of a cluster node's connect
// on this machine: the bare exchanges that `lunar bench connect` makes per
// passive node, with no iSCSI, SCSI or cluster logic behind them. A runner
// calls each node's agent over HTTP (JSON); the agent maps the LUN through
// the storage API over HTTP (JSON; the storage side makes the change
// durable, concurrent changes sharing one atomic file replace and fsync,
// as lunar's target does), opens a TCP connection to the portal and makes
// -rt request/answer round trips on it (login, REPORT LUNS, the scan
// batch, the label read: 48-byte requests, 560-byte answers), then
// answers the runner. Everything runs in this one process on loopback, as
// the benchmark's agents and target do.
//
// It prints, for one node and for -nodes nodes at once, the median wall
// time of the fan-out and the CPU time (user+system, the whole process)
// per node. The CPU per node at many nodes is what any implementation
// must at least spend here; on a machine with few cores it bounds how
// fast a parallel connect of many nodes can be.
//
// Usage:
//
//	connectfloor [-nodes 64] [-rt 4] [-reps 20] [-durable=true]
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"
)

func main() {
	nodes := flag.Int("nodes", 64, "passive nodes connecting at once")
	rt := flag.Int("rt", 4, "request/answer round trips on each node's portal connection")
	reps := flag.Int("reps", 20, "measured fan-outs per node count (after one warm-up)")
	durable := flag.Bool("durable", true, "make each map durable (atomic replace and fsync, shared by concurrent maps)")
	flag.Parse()
	dir, err := os.MkdirTemp("", "connectfloor")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	st := &store{dir: dir, durable: *durable}
	storageURL := serveHTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct{ Initiator, LUN string }
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := st.add(m.Initiator + "/" + m.LUN); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, map[string]string{"initiator": m.Initiator, "lun": m.LUN})
	}))
	portal := servePortal()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4 * *nodes}}
	var connMu sync.Mutex
	var conns []net.Conn
	agentURL := serveHTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Node, LUN string }
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := postJSON(client, storageURL, map[string]string{"initiator": req.Node, "lun": req.LUN}); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		c, err := net.Dial("tcp", portal)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		connMu.Lock()
		conns = append(conns, c)
		connMu.Unlock()
		in, out := make([]byte, answerSize), make([]byte, requestSize)
		for range *rt {
			if _, err := c.Write(out); err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			if _, err := io.ReadFull(c, in); err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
		}
		writeJSON(w, map[string]string{"node": req.Node, "status": "ok"})
	}))

	// fanOut connects n nodes at once; it returns the wall and CPU time.
	lun := 0
	fanOut := func(n int) (time.Duration, time.Duration) {
		lun++
		c0, t0 := processCPU(), time.Now()
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				if err := postJSON(client, agentURL, map[string]string{"node": fmt.Sprint("node", i), "lun": fmt.Sprint("lun", lun)}); err != nil {
					log.Fatal(err)
				}
			})
		}
		wg.Wait()
		wall, cpu := time.Since(t0), processCPU()-c0
		connMu.Lock()
		for _, c := range conns {
			c.Close()
		}
		conns = conns[:0]
		connMu.Unlock()
		return wall, cpu
	}

	fmt.Printf("connect floor: per node an agent call and a map over HTTP (durable: %v), a TCP connect and %d round trips\n", *durable, *rt)
	fmt.Printf("%6s  %10s  %12s\n", "nodes", "fan-out", "CPU per node")
	for _, n := range []int{1, *nodes} {
		fanOut(n)
		var walls, cpus []time.Duration
		for range *reps {
			w, c := fanOut(n)
			walls, cpus = append(walls, w), append(cpus, c/time.Duration(n))
		}
		fmt.Printf("%6d  %10v  %12v\n", n, median(walls).Round(10*time.Microsecond), median(cpus).Round(time.Microsecond))
	}
}

// The portal's request and answer sizes: a PDU header, and a header with
// a block of data.
const (
	requestSize = 48
	answerSize  = 48 + 512
)

// servePortal answers every requestSize bytes read with answerSize bytes,
// one goroutine per connection; it returns its address.
func servePortal() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				in, out := make([]byte, requestSize), make([]byte, answerSize)
				for {
					if _, err := io.ReadFull(c, in); err != nil {
						return
					}
					if _, err := c.Write(out); err != nil {
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

// serveHTTP serves h on loopback and returns its URL.
func serveHTTP(h http.Handler) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go http.Serve(l, h)
	return "http://" + l.Addr().String() + "/"
}

// postJSON posts v as JSON to url and reads the answer.
func postJSON(c *http.Client, url string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	resp, err := c.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

// writeJSON answers v as JSON.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// store keeps the maps in a file, replaced atomically on every change;
// the changes that arrive while one is written share the next write.
type store struct {
	dir     string
	durable bool

	mu      sync.Mutex
	maps    []string
	waiting []chan error
	writing bool
}

// add records a map and returns once it is on disk.
func (s *store) add(m string) error {
	if !s.durable {
		return nil
	}
	done := make(chan error, 1)
	s.mu.Lock()
	s.maps = append(s.maps, m)
	s.waiting = append(s.waiting, done)
	if !s.writing {
		s.writing = true
		go s.commit()
	}
	s.mu.Unlock()
	return <-done
}

// commit writes the maps until no change waits.
func (s *store) commit() {
	for {
		s.mu.Lock()
		if len(s.waiting) == 0 {
			s.writing = false
			s.mu.Unlock()
			return
		}
		maps, waiting := slices.Clone(s.maps), s.waiting
		s.waiting = nil
		s.mu.Unlock()
		err := s.write(maps)
		for _, w := range waiting {
			w <- err
		}
	}
}

// write replaces the maps file: a temporary file written and synced,
// renamed over the old one, and the directory synced.
func (s *store) write(maps []string) error {
	b, err := json.Marshal(maps)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(s.dir, "maps-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), filepath.Join(s.dir, "maps.json")); err != nil {
		return err
	}
	d, err := os.Open(s.dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// processCPU is the process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		log.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// median returns the median of d.
func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
