package initiator

import (
	"testing"

	"github.com/lunarsan/lunar/internal/leakcheck"
)

// TestMain fails the package's tests if goroutines outlive them: sessions,
// watchers and tasks must all stop on Close.
func TestMain(m *testing.M) { leakcheck.Main(m) }
