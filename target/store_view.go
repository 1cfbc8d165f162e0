package target

import (
	"slices"
	"strings"

	"github.com/lunarsan/lunar/iscsi"
)

// storeKey names one initiator's view of one target.
type storeKey struct {
	target    string
	initiator string
}

// storeSnapshot is everything the Directory answers, built from one
// configuration; it is never changed once published.
type storeSnapshot struct {
	defaultTarget string
	targets       []string
	alias         map[string]string
	mutual        map[string]*CHAPCredentials
	chap          map[string]*CHAPCredentials
	views         map[storeKey]*storeView
}

// storeView is an immutable View.
type storeView struct {
	luns []uint64
	lus  map[uint64]*LU
}

// storeEmptyView is the view of an initiator with no LUN mapped.
var storeEmptyView = &storeView{}

// Lookup returns the logical unit mapped at LUN n.
func (v *storeView) Lookup(n uint64) (*LU, bool) {
	lu, ok := v.lus[n]
	return lu, ok
}

// LUNs returns the mapped LUN numbers in ascending order. The slice is
// shared: callers must not change it.
func (v *storeView) LUNs() []uint64 { return v.luns }

// equal reports whether two views map the same numbers to the same LUs.
func (v *storeView) equal(o *storeView) bool {
	if !slices.Equal(v.luns, o.luns) {
		return false
	}
	for n, lu := range v.lus {
		if o.lus[n] != lu {
			return false
		}
	}
	return true
}

// storeBuildSnapshot resolves c into views over the open logical units.
func storeBuildSnapshot(c *storeConfig, luns map[string]*storeLUN) *storeSnapshot {
	s := &storeSnapshot{
		defaultTarget: c.DefaultTarget,
		alias:         make(map[string]string, len(c.Targets)),
		mutual:        make(map[string]*CHAPCredentials),
		chap:          make(map[string]*CHAPCredentials, len(c.CHAP)),
		views:         make(map[storeKey]*storeView),
	}
	for _, t := range c.Targets {
		s.targets = append(s.targets, t.Name)
		s.alias[t.Name] = t.Alias
		if t.MutualCHAP != nil {
			s.mutual[t.Name] = &CHAPCredentials{Name: t.MutualCHAP.Name, Secret: []byte(t.MutualCHAP.Secret)}
		}
	}
	slices.Sort(s.targets)
	for _, x := range c.CHAP {
		s.chap[x.Initiator] = &CHAPCredentials{Name: x.Name, Secret: []byte(x.Secret)}
	}
	members := make(map[string][]string, len(c.IGroups))
	for _, g := range c.IGroups {
		members[g.Name] = g.Initiators
	}
	for _, m := range c.Maps {
		st, ok := luns[m.LUN]
		if !ok {
			continue
		}
		for _, in := range members[m.IGroup] {
			k := storeKey{m.Target, in}
			v := s.views[k]
			if v == nil {
				v = &storeView{lus: make(map[uint64]*LU)}
				s.views[k] = v
			}
			if _, dup := v.lus[m.LUNID]; dup {
				continue // the store refuses this; keep the first
			}
			v.lus[m.LUNID] = st.lu
			v.luns = append(v.luns, m.LUNID)
		}
	}
	for _, v := range s.views {
		slices.Sort(v.luns)
	}
	return s
}

// storeViewChange is one call of the view-change callback.
type storeViewChange struct {
	target     string
	initiators []string
}

// storeDiff returns, per target (sorted), the initiators (sorted) whose
// view differs between old and next.
func storeDiff(old, next *storeSnapshot) []storeViewChange {
	changed := make(map[string][]string)
	for k, v := range old.views {
		if nv, ok := next.views[k]; !ok || !v.equal(nv) {
			changed[k.target] = append(changed[k.target], k.initiator)
		}
	}
	for k := range next.views {
		if _, ok := old.views[k]; !ok {
			changed[k.target] = append(changed[k.target], k.initiator)
		}
	}
	out := make([]storeViewChange, 0, len(changed))
	for t, ins := range changed {
		slices.Sort(ins)
		out = append(out, storeViewChange{target: t, initiators: ins})
	}
	slices.SortFunc(out, func(a, b storeViewChange) int { return strings.Compare(a.target, b.target) })
	return out
}

// storeLookupName returns the key under which the snapshot holds name:
// name itself, or its normalised form.
func storeLookupName(name string, has func(string) bool) string {
	if has(name) {
		return name
	}
	if n, err := iscsi.NormalizeName(name); err == nil {
		return n
	}
	return name
}

// Targets returns the names of every target, sorted.
func (s *Store) Targets() []string {
	return slices.Clone(s.snap.Load().targets)
}

// TargetAlias returns a target's alias and whether the target exists.
func (s *Store) TargetAlias(target string) (string, bool) {
	snap := s.snap.Load()
	t := storeLookupName(target, func(n string) bool { _, ok := snap.alias[n]; return ok })
	a, ok := snap.alias[t]
	return a, ok
}

// Access reports whether initiator may log in to target: it may when it
// has at least one LUN mapped there. CHAP holds the initiator's
// credentials when set, MutualCHAP the target's. For a discovery session
// (target "") every initiator is allowed, with its CHAP credentials.
func (s *Store) Access(target, initiator string) Access {
	snap := s.snap.Load()
	in := storeLookupName(initiator, func(n string) bool { _, ok := snap.chap[n]; return ok })
	if target == "" {
		return Access{Allowed: true, CHAP: snap.chap[in]}
	}
	t := storeLookupName(target, func(n string) bool { _, ok := snap.alias[n]; return ok })
	v := snap.views[storeKey{t, in}]
	if v == nil {
		in = storeLookupName(initiator, func(n string) bool { _, ok := snap.views[storeKey{t, n}]; return ok })
		v = snap.views[storeKey{t, in}]
	}
	if v == nil || len(v.luns) == 0 {
		return Access{}
	}
	return Access{Allowed: true, CHAP: snap.chap[in], MutualCHAP: snap.mutual[t]}
}

// View returns the initiator's current view of target: an immutable
// snapshot, empty when nothing is mapped.
func (s *Store) View(target, initiator string) View {
	snap := s.snap.Load()
	t := storeLookupName(target, func(n string) bool { _, ok := snap.alias[n]; return ok })
	in := storeLookupName(initiator, func(n string) bool { _, ok := snap.views[storeKey{t, n}]; return ok })
	if v := snap.views[storeKey{t, in}]; v != nil {
		return v
	}
	return storeEmptyView
}

var _ Directory = (*Store)(nil)
