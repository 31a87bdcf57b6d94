package metrics

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// defined records through every recorder once and returns the names of
// the kube_lustre metric families they define.
func defined(t *testing.T) []string {
	t.Helper()
	reg := prometheus.NewRegistry()
	d := NewDRBD(reg)
	d.Resource("r", true, "Primary", "Connected", "UpToDate", "UpToDate")
	d.Suspended("r", false)
	d.SyncDone("r", 1, true)
	d.ReconcileError("r")
	d.PeerLost("r")
	tg := NewTarget(reg, "mdt0")
	tg.State("ready")
	tg.TookOver("s1")
	tg.Started(time.Second)
	tg.Space(1, 2)
	tg.LeaseAge(time.Now)
	NewClient(reg).Mounted("lfs1", "/mnt/lfs1", true, true)
	f := NewFailover(reg)
	f.Leader(true)
	f.Released("mdt0", "peer_lost")
	f.Completed("mdt0", "peer_lost", time.Second)
	f.Placed("mdt0", "scheduler")
	NewCSI(reg).Call("CreateVolume", "OK", time.Second)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, fam := range fams {
		names = append(names, fam.GetName())
	}
	sort.Strings(names)
	return names
}

var metricName = regexp.MustCompile(`kube_lustre_[a-z_]+`)

// base strips the series suffixes of a histogram.
func base(name string) string {
	for _, s := range []string{"_bucket", "_sum", "_count"} {
		if n, ok := strings.CutSuffix(name, s); ok {
			return n
		}
	}
	return name
}

// docs/metrics.md lists exactly the metrics defined here.
func TestDocsListEveryMetric(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, m := range regexp.MustCompile("(?m)^\\| `(kube_lustre_[a-z_]+)` \\|").FindAllStringSubmatch(string(doc), -1) {
		listed = append(listed, m[1])
	}
	sort.Strings(listed)
	if want := defined(t); !slices.Equal(listed, want) {
		t.Fatalf("docs/metrics.md lists\n%v\nthe recorders define\n%v", listed, want)
	}
}

// The chart's dashboard queries only metrics that exist, and shows every
// one the controller and agents define except the leader flag.
func TestDashboardQueriesDefinedMetrics(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../charts/kube-lustre/dashboards/kube-lustre.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	names := defined(t)
	used := map[string]bool{}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			for _, n := range metricName.FindAllString(q.Expr, -1) {
				if !slices.Contains(names, base(n)) {
					t.Errorf("panel %q queries %s, which no recorder defines", p.Title, n)
				}
				used[base(n)] = true
			}
		}
	}
	for _, n := range names {
		if !used[n] && n != "kube_lustre_failover_leader" && n != "kube_lustre_failover_placements_total" && n != "kube_lustre_failover_releases_total" {
			t.Errorf("the dashboard shows nothing of %s", n)
		}
	}
}
