//go:build e2echart

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

// statusWatch is `helm lustre status RELEASE --watch -o json` running
// against the cluster (the plugin's binary, as helm runs it): one JSON
// view per line.
type statusWatch struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	views []statusView
	done  chan struct{}
}

// statusView is the part of the plugin's JSON status the test reads.
type statusView struct {
	Targets []struct {
		Target  string `json:"target"`
		PodNode string `json:"podNode"`
		Ready   bool   `json:"ready"`
		Space   *struct {
			Used      uint64 `json:"usedBytes"`
			Available uint64 `json:"availableBytes"`
		} `json:"space"`
	} `json:"targets"`
	Clients []struct {
		Node    string `json:"node"`
		Mounted bool   `json:"mounted"`
	} `json:"clients"`
	Versions []struct {
		Component string   `json:"component"`
		Images    []string `json:"images"`
	} `json:"versions"`
}

// startStatusWatch builds the plugin and starts its watch on the release.
func (r *release) startStatusWatch(t testing.TB) *statusWatch {
	t.Helper()
	bin := filepath.Join(r.tmp, "helm-lustre")
	if _, err := os.Stat(bin); err != nil {
		build := exec.Command("go", "build", "-o", bin, "./plugin")
		build.Dir = r.e.root
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build ./plugin: %v\n%s", err, out)
		}
	}
	w := &statusWatch{done: make(chan struct{})}
	w.cmd = exec.Command(bin, "status", chartRelease, "-n", r.ns, "--watch", "-o", "json", "--interval", "1s")
	w.cmd.Env = append(os.Environ(), "KUBECONFIG="+r.e.kubeconfig)
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	w.cmd.Stderr = &testLog{t: t, prefix: "helm lustre status --watch: "}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var v statusView
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				t.Errorf("helm lustre status --watch printed %q: %v", sc.Text(), err)
				continue
			}
			w.mu.Lock()
			w.views = append(w.views, v)
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() { w.stop() })
	return w
}

// stop interrupts the watch (as Ctrl-C does) and returns every view.
func (w *statusWatch) stop() []statusView {
	if w.cmd.ProcessState == nil {
		_ = w.cmd.Process.Signal(os.Interrupt)
		_ = w.cmd.Wait()
		<-w.done
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.views
}

// sofar returns the views so far, the watch still running.
func (w *statusWatch) sofar() []statusView {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]statusView(nil), w.views...)
}

// where lists, view by view, where target's pod was and whether it was
// Ready, without repeats: what an admin watching the failover saw.
func where(views []statusView, target string) []string {
	var out []string
	for _, v := range views {
		for _, tg := range v.Targets {
			if tg.Target != target {
				continue
			}
			s := tg.PodNode + " not ready"
			switch {
			case tg.PodNode == "":
				s = "no pod"
			case tg.Ready:
				s = tg.PodNode + " ready"
			}
			if len(out) == 0 || out[len(out)-1] != s {
				out = append(out, s)
			}
		}
	}
	return out
}

// spaceShown checks the last view gives every Ready target its space, as
// its serving pod read it from ZFS (issue 18), and returns target's.
func spaceShown(t testing.TB, views []statusView, target string) string {
	t.Helper()
	if len(views) == 0 {
		t.Error("helm lustre status --watch showed nothing")
		return ""
	}
	shown := ""
	for _, tg := range views[len(views)-1].Targets {
		switch {
		case !tg.Ready:
		case tg.Space == nil || tg.Space.Used == 0 || tg.Space.Available == 0:
			t.Errorf("helm lustre status shows %s ready on %s with space %+v, want its used and available bytes", tg.Target, tg.PodNode, tg.Space)
		case tg.Target == target:
			shown = fmt.Sprintf("%s on %s: %d bytes used, %d available", target, tg.PodNode, tg.Space.Used, tg.Space.Available)
		}
	}
	return shown
}

// testLog writes a subprocess's lines to the test log.
type testLog struct {
	t      testing.TB
	prefix string
}

func (l *testLog) Write(b []byte) (int, error) {
	l.t.Logf("%s%s", l.prefix, b)
	return len(b), nil
}

// taintServers taints every server node of the release as HPC storage
// nodes often are (issue 18) and gives the DRBD agents and the targets the
// toleration through pods.*.tolerations; nothing else tolerates it. The
// taint goes at the end of the test.
func (r *release) taintServers(t testing.TB) {
	t.Helper()
	const key = "e2e.kube-lustre.io/storage"
	taint := corev1.Taint{Key: key, Value: "only", Effect: corev1.TaintEffectNoSchedule}
	// setTaints edits a node's taints, again on a conflict: the kubelet
	// updates its node all the time.
	setTaints := func(name string, edit func([]corev1.Taint) []corev1.Taint) error {
		return retry.RetryOnConflict(retry.DefaultRetry, func() error {
			node, err := r.e.cs.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			node.Spec.Taints = edit(node.Spec.Taints)
			_, err = r.e.cs.CoreV1().Nodes().Update(context.Background(), node, metav1.UpdateOptions{})
			return err
		})
	}
	for _, n := range r.plan.Nodes {
		if len(n.DRBD) == 0 {
			continue
		}
		name := n.Name
		if err := setTaints(name, func(ts []corev1.Taint) []corev1.Taint { return append(ts, taint) }); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			err := setTaints(name, func(ts []corev1.Taint) []corev1.Taint {
				return slices.DeleteFunc(ts, func(tn corev1.Taint) bool { return tn.Key == key })
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	for _, pod := range []string{"drbd", "target"} {
		r.opts.SetValues["pods."+pod+".tolerations[0].key"] = key
		r.opts.SetValues["pods."+pod+".tolerations[0].operator"] = "Equal"
		r.opts.SetValues["pods."+pod+".tolerations[0].value"] = "only"
		r.opts.SetValues["pods."+pod+".tolerations[0].effect"] = "NoSchedule"
	}
}
