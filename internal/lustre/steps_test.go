package lustre

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/hostsim"
)

func TestTargetNamesAndArgs(t *testing.T) {
	t.Parallel()
	nids := []string{"10.0.0.1@tcp", "10.0.0.2@tcp"}
	cases := []struct {
		t      Target
		svname string
		args   string
	}{
		{Target{FSName: "lfs1", Type: MDT, MGS: true, Index: 0, Pool: "p", Dataset: "mdt0", MountPoint: "/m", ServiceNodes: nids}, "lfs1-MDT0000",
			"--backfstype=zfs --fsname=lfs1 --index=0 --mgs --mdt --servicenode=10.0.0.1@tcp --servicenode=10.0.0.2@tcp p/mdt0"},
		{Target{FSName: "lfs1", Type: OST, Index: 0xa19, Pool: "p", Dataset: "ost", MountPoint: "/m", MGSNodes: nids}, "lfs1-OST0a19",
			"--backfstype=zfs --fsname=lfs1 --index=2585 --ost --mgsnode=10.0.0.1@tcp:10.0.0.2@tcp p/ost"},
		{Target{FSName: "lfs1", Type: MGS, Pool: "p", Dataset: "mgs", MountPoint: "/m"}, "MGS",
			"--backfstype=zfs --fsname=lfs1 --mgs p/mgs"},
	}
	for _, tc := range cases {
		if err := tc.t.Validate(); err != nil {
			t.Fatalf("%s: %v", tc.svname, err)
		}
		if got := tc.t.Svname(); got != tc.svname {
			t.Errorf("svname %q, want %q", got, tc.svname)
		}
		if got := strings.Join(tc.t.MkfsArgs(), " "); got != tc.args {
			t.Errorf("args\n %s\nwant\n %s", got, tc.args)
		}
	}
}

func TestTargetValidate(t *testing.T) {
	t.Parallel()
	ok := Target{FSName: "lfs1", Type: OST, Index: 1, Pool: "p", Dataset: "ost1", MountPoint: "/mnt/o", MGSNodes: []string{"10.0.0.1@tcp,10.1.0.1@o2ib"}}
	cases := []struct {
		name string
		mod  func(t *Target)
		want string
	}{
		{"fsname too long", func(t *Target) { t.FSName = "abcdefghi" }, "fsname"},
		{"type", func(t *Target) { t.Type = "mds" }, "target type"},
		{"mgs on an ost", func(t *Target) { t.MGS = true }, "only an MDT"},
		{"index", func(t *Target) { t.Index = 65504 }, "below 65504"},
		{"mount point", func(t *Target) { t.MountPoint = "mnt" }, "absolute"},
		{"no mgs nids", func(t *Target) { t.MGSNodes = nil }, "MGS NIDs"},
		{"bad nid", func(t *Target) { t.ServiceNodes = []string{"10.0.0.1"} }, "NID list"},
		{"dataset", func(t *Target) { t.Dataset = "a b" }, "dataset"},
	}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		tg := ok
		tc.mod(&tg)
		if err := tg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestParseNetwork(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in         string
		net, iface string
		bad        bool
	}{
		{"tcp0(eth1)", "tcp0", "eth1", false},
		{"o2ib1(ib0)", "o2ib1", "ib0", false},
		{" tcp(eth0) ", "tcp", "eth0", false},
		{"tcp0", "", "", true},
		{"tcp0(eth1", "", "", true},
		{"tcp0(eth1);rm", "", "", true},
	}
	for _, tc := range cases {
		n, err := ParseNetwork(tc.in)
		if (err != nil) != tc.bad || n.Net != tc.net || n.Interface != tc.iface {
			t.Errorf("ParseNetwork(%q) = %+v, %v", tc.in, n, err)
		}
	}
}

func newHost(t *testing.T, cfg hostsim.HostConfig) (*hostsim.World, host.Runner) {
	t.Helper()
	w, err := hostsim.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.AddHost("n1", cfg); err != nil {
		t.Fatal(err)
	}
	return w, w.Host("n1")
}

func TestConfigureLNetIsIdempotent(t *testing.T) {
	t.Parallel()
	w, r := newHost(t, hostsim.HostConfig{Interfaces: map[string]string{"eth1": "10.0.0.9", "eth2": "10.0.1.9"}})
	ctx := context.Background()
	nets := []string{"tcp0(eth1)", "tcp1(eth2)"}
	must(t, ConfigureLNet(ctx, r, nets))
	must(t, ConfigureLNet(ctx, r, nets))
	nids, err := NIDs(ctx, r)
	if err != nil || strings.Join(nids, " ") != "10.0.0.9@tcp 10.0.1.9@tcp1" {
		t.Fatalf("NIDs = %v, %v", nids, err)
	}
	log, err := w.Log()
	must(t, err)
	adds := 0
	for _, e := range log {
		if strings.HasPrefix(strings.Join(e.Argv, " "), "lnetctl net add") {
			adds++
		}
	}
	if adds != 2 {
		t.Fatalf("lnetctl net add ran %d times, want 2", adds)
	}
	if err := ConfigureLNet(ctx, r, []string{"tcp2(ib9)"}); !host.ExitedWith(err, 234, "errno: -19") {
		t.Fatalf("missing interface: %v", err)
	}
	if err := ConfigureLNet(ctx, r, []string{"bogus"}); err == nil {
		t.Fatal("bad network accepted")
	}
}

// No networks in the values: LNet comes up with its defaults (tcp on the
// first interface) once, and stays as it is afterwards.
func TestConfigureLNetDefaults(t *testing.T) {
	t.Parallel()
	w, r := newHost(t, hostsim.HostConfig{Interfaces: map[string]string{"eth1": "10.0.0.9"}})
	ctx := context.Background()
	must(t, ConfigureLNet(ctx, r, nil))
	must(t, ConfigureLNet(ctx, r, nil))
	nids, err := NIDs(ctx, r)
	if err != nil || strings.Join(nids, " ") != "10.0.0.9@tcp" {
		t.Fatalf("NIDs = %v, %v", nids, err)
	}
	ran, err := w.Ran("", "lnetctl lnet configure")
	must(t, err)
	if len(ran) != 1 || !strings.HasSuffix(ran[0], "lnetctl lnet configure --all") {
		t.Fatalf("configure ran %v, want once with --all", ran)
	}
}

func TestEnsureModulesReportsWhatIsMissing(t *testing.T) {
	t.Parallel()
	_, r := newHost(t, hostsim.HostConfig{Modules: []string{"libcfs", "lnet", "zfs", "spl"}})
	err := EnsureModules(context.Background(), r, ServerModules)
	var mm *MissingModulesError
	if !errors.As(err, &mm) {
		t.Fatalf("EnsureModules = %v", err)
	}
	if strings.Join(mm.Order, ",") != "lustre,osd_zfs" || !strings.Contains(mm.Missing["lustre"], "Module ksocklnd not found") && !strings.Contains(mm.Missing["lustre"], "not found in directory") {
		t.Fatalf("missing = %+v", mm)
	}
	_, full := newHost(t, hostsim.HostConfig{})
	must(t, EnsureModules(context.Background(), full, ServerModules))
	must(t, EnsureModules(context.Background(), full, ServerModules))
}

// clientHost brings up an HA pair and readies c1 (modules, LNet) to mount.
func clientHost(t *testing.T, drbdVersion string, networks []string) (*pair, host.Runner) {
	t.Helper()
	p := newPair(t, drbdVersion)
	p.mustBringUp()
	c1 := p.w.Host("c1")
	must(t, EnsureModules(context.Background(), c1, ClientModules))
	must(t, ConfigureLNet(context.Background(), c1, networks))
	return p, c1
}

func TestClientUnmountOnlyWhenIdle(t *testing.T) {
	t.Parallel()
	p, c1 := clientHost(t, hostsim.DRBD84, []string{"tcp0(eth1)"})
	ctx := context.Background()
	c := Client{MGSNodes: []string{"10.0.0.1@tcp", "10.0.0.2@tcp"}, FSName: "lfs1", MountPoint: "/mnt/lfs1"}
	for i, want := range []bool{true, false} {
		mounted, err := MountClient(ctx, c1, c)
		if err != nil || mounted != want {
			t.Fatalf("mount %d: %v %v", i, mounted, err)
		}
	}
	must(t, p.w.SetBusy("c1", "/mnt/lfs1", true))
	if err := UnmountClient(ctx, c1, c); !errors.Is(err, ErrBusy) {
		t.Fatalf("busy unmount: %v", err)
	}
	must(t, p.w.SetBusy("c1", "/mnt/lfs1", false))
	// A volume published to a pod: a bind mount of a directory of the
	// filesystem keeps the client mounted.
	for _, argv := range [][]string{{"mkdir", "-p", "/mnt/lfs1/vol", "/pods/p1/vol"}, {"mount", "--bind", "/mnt/lfs1/vol", "/pods/p1/vol"}} {
		_, err := host.Run(ctx, c1, argv[0], argv[1:]...)
		must(t, err)
	}
	if err := UnmountClient(ctx, c1, c); !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "/pods/p1/vol") {
		t.Fatalf("unmount with a published volume: %v", err)
	}
	if ok, err := IsLustreMount(ctx, c1, "/mnt/lfs1"); err != nil || !ok {
		t.Fatalf("client mount gone with a volume published: %v %v", ok, err)
	}
	_, err := host.Run(ctx, c1, "umount", "/pods/p1/vol")
	must(t, err)
	must(t, UnmountClient(ctx, c1, c))
	must(t, UnmountClient(ctx, c1, c))
	if err := (Client{FSName: "lfs1", MountPoint: "/mnt/x"}).Validate(); err == nil {
		t.Fatal("client without MGS NIDs accepted")
	}
}

// IsLustreMount tells a Lustre client mount from an empty directory.
func TestIsLustreMount(t *testing.T) {
	t.Parallel()
	_, c1 := clientHost(t, hostsim.DRBD9, nil)
	ctx := context.Background()
	_, err := host.Run(ctx, c1, "mkdir", "-p", "/mnt/lfs1")
	must(t, err)
	if ok, err := IsLustreMount(ctx, c1, "/mnt/lfs1"); err != nil || ok {
		t.Fatalf("empty directory: %v %v", ok, err)
	}
	c := Client{MGSNodes: []string{"10.0.0.1@tcp", "10.0.0.2@tcp"}, FSName: "lfs1", MountPoint: "/mnt/lfs1"}
	_, err = MountClient(ctx, c1, c)
	must(t, err)
	if ok, err := IsLustreMount(ctx, c1, "/mnt/lfs1"); err != nil || !ok {
		t.Fatalf("after mount: %v %v", ok, err)
	}
}

// What lnetctl 2.17 printed on a real kernel (shared/reference/lustre-facts.md).
const (
	realNetShow = `net:
-     net type: lo
      local NI(s):
      -     nid: 0@lo
            status: up
-     net type: tcp
      local NI(s):
      -     nid: 10.0.2.15@tcp
            status: up
`
	realNetAddExists  = "---\nadd:\n-     net:\n      errno: -17\n      descr: ! \"cannot add LNet NI\"\n...\n"
	realNoModule      = "Writer error: failed to resolve Netlink family id\n"
	realNotConfigured = "---\nshow:\n-     net:\n      errno: -100\n      descr: ! \"Unspecific failure\"\n...\n"
)

// ConfigureLNet against lnetctl's real answers: the libyaml indentation of
// `net show` (a net of the wanted type is configured: the output names no
// interfaces), the two "not configured" answers (exit 234), and `net add`
// of an NI that exists (errno -17, exit 234) as already done.
func TestConfigureLNetReadsRealOutput(t *testing.T) {
	t.Parallel()
	answer := func(code int, stdout, stderr string) host.Result {
		return host.Result{Stdout: stdout, Stderr: stderr, ExitCode: code}
	}
	cases := []struct {
		name     string
		networks []string
		answers  map[string]host.Result // by command line; unlisted: exit 0
		ran      string
		errWant  string // "" = success
	}{
		{name: "configured", networks: []string{"tcp0(eth0)"},
			answers: map[string]host.Result{"lnetctl net show": answer(0, realNetShow, "")},
			ran:     "lnetctl net show"},
		{name: "configured, tcp for tcp0", networks: []string{"tcp(eth0)"},
			answers: map[string]host.Result{"lnetctl net show": answer(0, realNetShow, "")},
			ran:     "lnetctl net show"},
		{name: "another net type", networks: []string{"tcp0(eth0)", "tcp1(eth1)"},
			answers: map[string]host.Result{"lnetctl net show": answer(0, realNetShow, "")},
			ran:     "lnetctl net show; lnetctl net add --net tcp1 --if eth1"},
		{name: "module not loaded", networks: []string{"tcp0(eth1)"},
			answers: map[string]host.Result{"lnetctl net show": answer(234, "", realNoModule)},
			ran:     "lnetctl net show; lnetctl lnet configure; lnetctl net add --net tcp0 --if eth1"},
		{name: "not configured", networks: []string{"tcp0(eth1)"},
			answers: map[string]host.Result{"lnetctl net show": answer(234, "", realNotConfigured)},
			ran:     "lnetctl net show; lnetctl lnet configure; lnetctl net add --net tcp0 --if eth1"},
		{name: "not configured, defaults", networks: nil,
			answers: map[string]host.Result{"lnetctl net show": answer(234, "", realNotConfigured)},
			ran:     "lnetctl net show; lnetctl lnet configure --all"},
		{name: "added meanwhile", networks: []string{"tcp0(eth1)"},
			answers: map[string]host.Result{"lnetctl net show": answer(234, "", realNotConfigured), "lnetctl net add --net tcp0 --if eth1": answer(234, "", realNetAddExists)},
			ran:     "lnetctl net show; lnetctl lnet configure; lnetctl net add --net tcp0 --if eth1"},
		{name: "net add refused otherwise", networks: []string{"tcp0(eth1)"},
			answers: map[string]host.Result{"lnetctl net show": answer(234, "", realNotConfigured),
				"lnetctl net add --net tcp0 --if eth1": answer(234, "", "---\nadd:\n-     net:\n      errno: -170\n      descr: ! \"cannot add LNet NI\"\n...\n")},
			ran: "lnetctl net show; lnetctl lnet configure; lnetctl net add --net tcp0 --if eth1", errWant: "errno: -170"},
		{name: "net show fails otherwise", networks: []string{"tcp0(eth1)"},
			answers: map[string]host.Result{"lnetctl net show": answer(234, "", "---\nshow:\n-     net:\n      errno: -1\n      descr: ! \"Operation not permitted\"\n...\n")},
			ran:     "lnetctl net show", errWant: "Operation not permitted"},
		{name: "Unspecific failure is no success", networks: []string{"tcp0(eth1)"},
			answers: map[string]host.Result{"lnetctl net show": answer(1, "", realNotConfigured)},
			ran:     "lnetctl net show", errWant: "Unspecific failure"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ran []string
			r := host.RunnerFunc(func(ctx context.Context, c host.Cmd) (host.Result, error) {
				line := strings.Join(append([]string{c.Name}, c.Args...), " ")
				ran = append(ran, line)
				res := tc.answers[line]
				if res.ExitCode != 0 {
					return res, &host.ExitError{Cmd: c, Result: res}
				}
				return res, nil
			})
			err := ConfigureLNet(context.Background(), r, tc.networks)
			if got := strings.Join(ran, "; "); got != tc.ran {
				t.Errorf("ran\n %s\nwant\n %s", got, tc.ran)
			}
			if tc.errWant == "" && err != nil || tc.errWant != "" && (err == nil || !host.ExitedWith(err, 234, tc.errWant) && !host.ExitedWith(err, 1, tc.errWant)) {
				t.Errorf("ConfigureLNet = %v, want %q", err, tc.errWant)
			}
		})
	}
}

func TestParseNetShow(t *testing.T) {
	t.Parallel()
	nets := parseNetShow(realNetShow)
	if len(nets) != 2 || strings.Join(nets["tcp"].NIDs, " ") != "10.0.2.15@tcp" || strings.Join(nets["lo"].NIDs, " ") != "0@lo" || len(nets["tcp"].Interfaces) != 0 {
		t.Fatalf("real output: %+v", nets)
	}
	// Where lnetctl lists interfaces (older versions, 4-blank indents),
	// the wanted one must be among them.
	old := "net:\n    - net type: lo\n      local NI(s):\n        - nid: 0@lo\n          status: up\n    - net type: tcp1\n      local NI(s):\n        - nid: 10.0.1.9@tcp1\n          status: up\n          interfaces:\n              0: eth2\n        - nid: 10.0.3.9@tcp1\n          status: up\n          interfaces:\n              0: eth3\n"
	nets = parseNetShow(old)
	if got := strings.Join(nets["tcp1"].Interfaces, " "); got != "eth2 eth3" || len(nets["tcp1"].NIDs) != 2 {
		t.Fatalf("listed interfaces: %+v", nets["tcp1"])
	}
	if !(Network{Net: "tcp1", Interface: "eth3"}).configured(nets) || (Network{Net: "tcp1", Interface: "eth4"}).configured(nets) || (Network{Net: "tcp0", Interface: "eth2"}).configured(nets) {
		t.Fatal("configured() does not follow the listed interfaces")
	}
}

// Loading lustre while LNet is not configured brings it up with the module
// defaults, tcp on the first interface (Lustre 2.17 on a real kernel), so
// LNet is configured between the lnet module and the others; a restart
// only checks.
func TestEnsureModulesAndLNetConfiguresLNetBeforeLustre(t *testing.T) {
	t.Parallel()
	w, r := newHost(t, hostsim.HostConfig{Interfaces: map[string]string{"eth0": "10.0.5.9", "eth1": "10.0.0.9"}})
	ctx := context.Background()
	for range 2 {
		must(t, EnsureModulesAndLNet(ctx, r, ServerModules, []string{"tcp0(eth1)"}))
	}
	log, err := w.Log()
	must(t, err)
	nids, err := NIDs(ctx, r)
	if err != nil || strings.Join(nids, " ") != "10.0.0.9@tcp" {
		t.Fatalf("NIDs = %v, %v; want only the configured network's", nids, err)
	}
	var steps []string
	for _, e := range log {
		if c := strings.Join(e.Argv, " "); c != "lsmod" && c != "lnetctl net show" {
			steps = append(steps, c)
		}
	}
	want := "modprobe lnet; lnetctl lnet configure; lnetctl net add --net tcp0 --if eth1; modprobe lustre; modprobe osd_zfs"
	if got := strings.Join(steps, "; "); got != want {
		t.Fatalf("ran\n %s\nwant (and nothing more on the second run)\n %s", got, want)
	}
}

func TestEnsureModulesAndLNetReportsWhatIsMissing(t *testing.T) {
	t.Parallel()
	_, r := newHost(t, hostsim.HostConfig{Modules: []string{"drbd", "lru_cache"}})
	err := EnsureModulesAndLNet(context.Background(), r, append([]string{"drbd", "zfs"}, ServerModules...), nil)
	var mm *MissingModulesError
	if !errors.As(err, &mm) || strings.Join(mm.Order, ",") != "zfs,lnet,lustre,osd_zfs" || !strings.Contains(mm.Missing["lnet"], "not found in directory") {
		t.Fatalf("EnsureModulesAndLNet = %v (%+v)", err, mm)
	}
	if err := EnsureModulesAndLNet(context.Background(), r, ServerModules, []string{"bogus"}); err == nil || errors.As(err, &mm) {
		t.Fatalf("bad network: %v", err)
	}
}

// Start loads the lnet module, configures LNet and only then loads the
// other modules (lustre would bring LNet up with the module defaults).
func TestStartConfiguresLNetBeforeLustre(t *testing.T) {
	t.Parallel()
	p := newPair(t, hostsim.DRBD84)
	p.mustBringUp()
	var order []string
	for _, e := range p.log() {
		c := strings.Join(e.Argv, " ")
		if e.Host == "s1" && (strings.HasPrefix(c, "modprobe ") || strings.HasPrefix(c, "lnetctl lnet ") || strings.HasPrefix(c, "lnetctl net add")) {
			order = append(order, c)
		}
	}
	want := "modprobe lnet; lnetctl lnet configure; lnetctl net add --net tcp0 --if eth1; modprobe lustre; modprobe osd_zfs"
	if got := strings.Join(order, "; "); !strings.HasSuffix(got, want) {
		t.Fatalf("s1 ran\n %s\nwant it to end with\n %s", got, want)
	}
	if nids, err := NIDs(context.Background(), p.host(0)); err != nil || strings.Join(nids, " ") != hostsim.PairAddress(0)+"@tcp" {
		t.Fatalf("NIDs %v, %v", nids, err)
	}
}
