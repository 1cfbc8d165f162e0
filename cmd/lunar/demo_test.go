package main

import (
	"strings"
	"testing"
)

func TestDemo(t *testing.T) {
	out := runCLIOK(t, "demo", "--nodes", "3", "--size", "64MiB")
	tables := tableRows(t, out)
	if len(tables) != 2 {
		t.Fatalf("%d tables, want the parallel and the serial one:\n%s", len(tables), out)
	}
	for i, mode := range []string{"parallel", "serial"} {
		for _, n := range []string{"node-1", "node-2", "node-3"} {
			if tables[i][n] != "ok" {
				t.Fatalf("%s: node %s is %q:\n%s", mode, n, tables[i][n], out)
			}
		}
		if !strings.Contains(out, "("+mode+")") {
			t.Fatalf("no %s run in:\n%s", mode, out)
		}
	}
	for _, w := range []string{"SERIAL", "PARALLEL", "IDEAL", "speed-up"} {
		if !strings.Contains(out, w) {
			t.Fatalf("the comparison lacks %q:\n%s", w, out)
		}
	}
}
