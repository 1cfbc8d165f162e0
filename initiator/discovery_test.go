package initiator

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/lunarsan/lunar/iscsi"
	"github.com/lunarsan/lunar/target"
)

func TestDiscover(t *testing.T) {
	env := sessStart(t, target.ServerConfig{})
	ctx := context.Background()
	got, err := Discover(ctx, env.config())
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	if len(got) == 0 || got[0].Name != sessTestTarget || len(got[0].Portals) == 0 || got[0].Portals[0] != env.addr {
		t.Fatalf("targets %+v, want %s at %s", got, sessTestTarget, env.addr)
	}
	// With CHAP configured the discovery session authenticates too.
	if err := env.store.SetCHAP(ctx, sessTestInitiator, target.CHAPSecret{Name: "host1", Secret: "initiator-secret"}); err != nil {
		t.Fatal(err)
	}
	cfg := env.config()
	cfg.CHAP = &CHAP{Name: "host1", Secret: []byte("initiator-secret")}
	if got, err = Discover(ctx, cfg); err != nil || len(got) == 0 {
		t.Fatalf("Discover with CHAP: %+v, %v", got, err)
	}
	cfg.InitiatorName = "bad name"
	if _, err := Discover(ctx, cfg); !errors.Is(err, ErrConfig) {
		t.Fatalf("bad config: %v", err)
	}
}

func TestParseSendTargets(t *testing.T) {
	text := iscsi.AppendText(nil, "TargetName", "iqn.2026-11.org.a:one")
	text = iscsi.AppendText(text, "TargetAddress", "10.0.0.1:3260,1")
	text = iscsi.AppendText(text, "TargetAddress", "[fe80::1]:3261,2")
	text = iscsi.AppendText(text, "TargetName", "iqn.2026-11.org.a:two")
	text = iscsi.AppendText(text, "TargetAddress", "10.0.0.2")
	got, err := parseSendTargets(text)
	want := []DiscoveredTarget{
		{Name: "iqn.2026-11.org.a:one", Portals: []string{"10.0.0.1:3260", "[fe80::1]:3261"}},
		{Name: "iqn.2026-11.org.a:two", Portals: []string{"10.0.0.2:3260"}},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, %v", got, err)
	}
	bad := [][]byte{
		iscsi.AppendText(nil, "TargetAddress", "10.0.0.1:3260,1"),
		iscsi.AppendText(nil, "TargetName", "not a name"),
		[]byte("TargetName"),
	}
	for _, b := range bad {
		if _, err := parseSendTargets(b); !errors.Is(err, ErrProtocol) {
			t.Errorf("%q: %v", b, err)
		}
	}
}
