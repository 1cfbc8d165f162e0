package target

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// The store's files in its data directory.
const (
	// StoreConfigFile is the configuration's file name.
	StoreConfigFile = "config.json"
	// storeConfigVersion is the configuration format's version.
	storeConfigVersion = 1
	// storeTempPrefix starts the temporary files of atomic writes.
	storeTempPrefix = ".tmp-"
	// storeMaxConfig bounds the configuration file read at start.
	storeMaxConfig = 64 << 20
)

// storeConfig is the persisted configuration (config.json). Values are
// never changed in place once current: a change edits a clone.
type storeConfig struct {
	Version        int                  `json:"version"`
	OUI            uint32               `json:"oui"`
	DefaultTarget  string               `json:"default_target"`
	Targets        []storeTargetConf    `json:"targets"`
	LUNs           []storeLUNConf       `json:"luns"`
	IGroups        []storeIGroupConf    `json:"igroups"`
	Maps           []storeMapConf       `json:"maps"`
	CHAP           []storeInitiatorCHAP `json:"chap"`
	RetiredWWNs    []string             `json:"retired_wwns"`
	RetiredSerials []string             `json:"retired_serials"`
}

type storeTargetConf struct {
	Name       string         `json:"name"`
	Alias      string         `json:"alias,omitempty"`
	MutualCHAP *storeCHAPConf `json:"mutual_chap,omitempty"`
}

type storeCHAPConf struct {
	Name   string `json:"name"`
	Secret string `json:"secret"`
}

type storeLUNConf struct {
	Name      string `json:"name"`
	Size      int64  `json:"size"`
	BlockSize uint32 `json:"block_size"`
	Thin      bool   `json:"thin"`
	WWN       string `json:"wwn"`
	Serial    string `json:"serial"`
	// PR is the persistent reservation state of an APTPL logical unit
	// (pr_persist.go), written by the same atomic replacement of
	// config.json as the rest of the LUN's configuration.
	PR *PRSnapshot `json:"pr,omitempty"`
}

type storeIGroupConf struct {
	Name       string   `json:"name"`
	Initiators []string `json:"initiators"`
}

type storeMapConf struct {
	Target string `json:"target"`
	IGroup string `json:"igroup"`
	LUN    string `json:"lun"`
	LUNID  uint64 `json:"lun_id"`
}

type storeInitiatorCHAP struct {
	Initiator string `json:"initiator"`
	Name      string `json:"name"`
	Secret    string `json:"secret"`
}

// clone returns a deep copy of c.
func (c *storeConfig) clone() *storeConfig {
	n := *c
	n.Targets = slices.Clone(c.Targets)
	for i := range n.Targets {
		if m := n.Targets[i].MutualCHAP; m != nil {
			cp := *m
			n.Targets[i].MutualCHAP = &cp
		}
	}
	n.LUNs = slices.Clone(c.LUNs)
	n.IGroups = slices.Clone(c.IGroups)
	for i := range n.IGroups {
		n.IGroups[i].Initiators = slices.Clone(n.IGroups[i].Initiators)
	}
	n.Maps = slices.Clone(c.Maps)
	n.CHAP = slices.Clone(c.CHAP)
	n.RetiredWWNs = slices.Clone(c.RetiredWWNs)
	n.RetiredSerials = slices.Clone(c.RetiredSerials)
	return &n
}

// sort puts every list in its canonical order.
func (c *storeConfig) sort() {
	slices.SortFunc(c.Targets, func(a, b storeTargetConf) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(c.LUNs, func(a, b storeLUNConf) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(c.IGroups, func(a, b storeIGroupConf) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(c.Maps, func(a, b storeMapConf) int {
		return cmp.Or(strings.Compare(a.Target, b.Target), strings.Compare(a.IGroup, b.IGroup), cmp.Compare(a.LUNID, b.LUNID))
	})
	slices.SortFunc(c.CHAP, func(a, b storeInitiatorCHAP) int { return strings.Compare(a.Initiator, b.Initiator) })
}

func (c *storeConfig) lun(name string) (int, bool) {
	i := slices.IndexFunc(c.LUNs, func(l storeLUNConf) bool { return l.Name == name })
	return i, i >= 0
}

func (c *storeConfig) igroup(name string) (int, bool) {
	i := slices.IndexFunc(c.IGroups, func(g storeIGroupConf) bool { return g.Name == name })
	return i, i >= 0
}

func (c *storeConfig) target(name string) (int, bool) {
	i := slices.IndexFunc(c.Targets, func(t storeTargetConf) bool { return t.Name == name })
	return i, i >= 0
}

// findTarget resolves a target name given by a user (normalising it).
func (c *storeConfig) findTarget(name string) (string, error) {
	if _, ok := c.target(name); ok {
		return name, nil
	}
	if n, err := normalizeTargetName(name); err == nil {
		if _, ok := c.target(n); ok {
			return n, nil
		}
	}
	return "", storeNotFound("target_not_found", "target %q not found: see GET /v1/targets", name)
}

func normalizeTargetName(name string) (string, error) {
	n, err := storeCheckInitiator(name)
	return n, err
}

func (c *storeConfig) mapsWhere(f func(storeMapConf) bool) []storeMapConf {
	var out []storeMapConf
	for _, m := range c.Maps {
		if f(m) {
			out = append(out, m)
		}
	}
	return out
}

// initiatorSees returns the map through which initiator sees LUN id on
// target, if any.
func (c *storeConfig) initiatorSees(target, initiator string, id uint64) (storeMapConf, bool) {
	for _, m := range c.Maps {
		if m.Target != target || m.LUNID != id {
			continue
		}
		if gi, ok := c.igroup(m.IGroup); ok && slices.Contains(c.IGroups[gi].Initiators, initiator) {
			return m, true
		}
	}
	return storeMapConf{}, false
}

// anyInitiatorSees reports whether any of initiators sees LUN id on
// target.
func (c *storeConfig) anyInitiatorSees(target string, initiators []string, id uint64) (storeMapConf, bool) {
	for _, in := range initiators {
		if m, ok := c.initiatorSees(target, in, id); ok {
			return m, true
		}
	}
	return storeMapConf{}, false
}

// identityUsed reports whether a WWN or serial is held by a LUN or
// retired.
func (c *storeConfig) identityUsed(wwn, serial string) bool {
	if slices.Contains(c.RetiredWWNs, wwn) || slices.Contains(c.RetiredSerials, serial) {
		return true
	}
	return slices.ContainsFunc(c.LUNs, func(l storeLUNConf) bool { return l.WWN == wwn || l.Serial == serial })
}

func (c *storeConfig) lunInfo(s *Store, l storeLUNConf) LUNInfo {
	info := LUNInfo{
		Name: l.Name, Size: l.Size, BlockSize: l.BlockSize, Thin: l.Thin,
		WWN: l.WWN, Serial: l.Serial, Path: s.lunPath(l.Name),
		Maps: []MapInfo{}, Initiators: []InitiatorLUN{},
	}
	for _, m := range c.Maps {
		if m.LUN != l.Name {
			continue
		}
		info.Maps = append(info.Maps, MapInfo(m))
		if gi, ok := c.igroup(m.IGroup); ok {
			for _, in := range c.IGroups[gi].Initiators {
				info.Initiators = append(info.Initiators, InitiatorLUN{Target: m.Target, Initiator: in, LUNID: m.LUNID})
			}
		}
	}
	return info
}

func (c *storeConfig) igroupInfo(g storeIGroupConf) IGroupInfo {
	info := IGroupInfo{Name: g.Name, Initiators: slices.Clone(g.Initiators), Maps: []MapInfo{}}
	if info.Initiators == nil {
		info.Initiators = []string{}
	}
	for _, m := range c.Maps {
		if m.IGroup == g.Name {
			info.Maps = append(info.Maps, MapInfo(m))
		}
	}
	return info
}

func (c *storeConfig) targetInfo(t storeTargetConf) TargetInfo {
	info := TargetInfo{Name: t.Name, Alias: t.Alias, Default: t.Name == c.DefaultTarget}
	if t.MutualCHAP != nil {
		info.MutualCHAP = t.MutualCHAP.Name
	}
	for _, m := range c.Maps {
		if m.Target == t.Name {
			info.Maps++
		}
	}
	return info
}

// validate checks a configuration read from disk.
func (c *storeConfig) validate() error {
	if c.Version != storeConfigVersion {
		return fmt.Errorf("version %d: want %d", c.Version, storeConfigVersion)
	}
	if c.OUI > 0xffffff {
		return fmt.Errorf("oui %#x: want 24 bits", c.OUI)
	}
	if _, ok := c.target(c.DefaultTarget); !ok {
		return fmt.Errorf("default target %q is not a target", c.DefaultTarget)
	}
	for _, l := range c.LUNs {
		if err := storeCheckName("LUN", l.Name); err != nil {
			return err
		}
		if l.BlockSize != 512 && l.BlockSize != 4096 {
			return fmt.Errorf("LUN %s: block size %d", l.Name, l.BlockSize)
		}
		if err := storeCheckSize(l.Size, l.BlockSize); err != nil {
			return fmt.Errorf("LUN %s: %w", l.Name, err)
		}
	}
	for _, m := range c.Maps {
		_, okT := c.target(m.Target)
		_, okL := c.lun(m.LUN)
		_, okG := c.igroup(m.IGroup)
		if !okT || !okL || !okG || m.LUNID > MaxLUNID {
			return fmt.Errorf("map %+v refers to something missing", m)
		}
	}
	return nil
}

// storeLoad reads and validates config.json.
func storeLoad(dir string) (*storeConfig, error) {
	f, err := os.Open(filepath.Join(dir, StoreConfigFile))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, storeMaxConfig+1))
	if err != nil {
		return nil, fmt.Errorf("target: read %s: %w", StoreConfigFile, err)
	}
	if len(data) > storeMaxConfig {
		return nil, fmt.Errorf("target: %s is larger than %d bytes", StoreConfigFile, storeMaxConfig)
	}
	var c storeConfig
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("target: parse %s: %w", filepath.Join(dir, StoreConfigFile), err)
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("target: %s: %w", filepath.Join(dir, StoreConfigFile), err)
	}
	c.sort()
	return &c, nil
}

// persist writes c to config.json atomically (s.mu held).
func (s *Store) persist(c *storeConfig) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("target: encode config: %w", err)
	}
	data = append(data, '\n')
	if err := storeWriteFileAtomic(s.dir, StoreConfigFile, data, 0o600, s.persistHook); err != nil {
		return fmt.Errorf("target: save config: %w", err)
	}
	return nil
}

// storeWriteFileAtomic replaces dir/name with data so that a crash at any
// point leaves either the old or the new file: write a temporary file in
// the same directory, fsync it, rename it over the old one, fsync the
// directory. hook, when set, runs before each step ("create", "write",
// "sync", "close", "rename", "syncdir") and stops the write there when it
// returns an error, as a crash would (the temporary file is left behind;
// storeRemoveTemps clears such leftovers at the next start).
func storeWriteFileAtomic(dir, name string, data []byte, perm os.FileMode, hook func(step string) error) error {
	step := func(s string) error {
		if hook == nil {
			return nil
		}
		return hook(s)
	}
	if err := step("create"); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, storeTempPrefix+name+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return fail(err)
	}
	if err := step("write"); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := step("sync"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := step("close"); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := step("rename"); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := step("syncdir"); err != nil {
		return fmt.Errorf("%w: %w", errStoreUnsynced, err)
	}
	if err := storeSyncDir(dir); err != nil {
		return fmt.Errorf("%w: %w", errStoreUnsynced, err)
	}
	return nil
}

// errStoreUnsynced marks a write whose rename happened but whose
// directory sync failed: the new file is in place, its durability not
// confirmed. The store then keeps the new state (it is what a restart
// would find) and still reports the error.
var errStoreUnsynced = errors.New("target: config replaced but its directory not synced")

// storeSyncDir fsyncs a directory so that a rename in it is durable.
func storeSyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// storeRemoveTemps removes temporary files left by interrupted writes.
func storeRemoveTemps(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), storeTempPrefix) && e.Type().IsRegular() {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// LoadOrCreateToken returns the API token stored in path, creating it
// with 32 random bytes from crypto/rand (hex, mode 0600) when absent.
func LoadOrCreateToken(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		tok := strings.TrimSpace(string(data))
		if len(tok) < 16 {
			return "", fmt.Errorf("target: token file %s holds fewer than 16 characters: delete it to get a new token", path)
		}
		return tok, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("target: read token: %w", err)
	}
	tok, err := storeRandomHex(storeRandReader(), 32)
	if err != nil {
		return "", fmt.Errorf("target: random token: %w", err)
	}
	dir, name := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("target: token directory: %w", err)
	}
	if err := storeWriteFileAtomic(dir, name, []byte(tok+"\n"), 0o600, nil); err != nil {
		return "", fmt.Errorf("target: write token: %w", err)
	}
	return tok, nil
}
