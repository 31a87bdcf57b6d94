//go:build e2echart

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/helm"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/lustre"
)

// csiClaims is how many claims the scale case binds at once.
const csiClaims = 1000

// testCSI turns the provisioner on in the running release (helm upgrade)
// and checks the dynamic volumes end to end: the MGS enforces project
// quotas, 1,000 claims bind, a volume published to a pod is limited to its
// capacity, expansion raises the limit, and deleting a claim frees its
// directory and its quota.
func testCSI(t *testing.T, r *release) {
	ctx := context.Background()
	r.opts.SetValues["provisioner.enabled"] = "true"
	r.opts.SetValues["provisioner.controller.kubeAPIQPS"] = "200"
	r.opts.SetValues["provisioner.controller.kubeAPIBurst"] = "400"
	// The two sidecars the Go module proxy does not serve run as this
	// repository's stand-ins (ci/cluster/csi-standins); provisioner and
	// resizer are upstream's, built from their modules.
	for key, name := range map[string]string{"registrar": "node-driver-registrar", "livenessprobe": "livenessprobe"} {
		r.opts.SetValues["provisioner.images."+key+".repository"] = "kube-lustre.local/csi-standin-" + name
		r.opts.SetValues["provisioner.images."+key+".tag"] = r.e.tag
	}
	r.load(t, r.files...)
	v := r.v
	driver := v.FSName + ".lustre.csi.kube-lustre.io"
	class := "lustre-" + v.FSName
	root := path.Join(v.ClientMountPoint(), "csi-volumes")

	start := time.Now()
	helm.UpgradeContext(t, context.Background(), r.opts, r.e.chartDir(), chartRelease)
	poll(t, 3*time.Minute, "the CSI driver registered on every client node", func() bool {
		for _, n := range r.plan.Clients.Nodes {
			cn, err := r.e.cs.StorageV1().CSINodes().Get(ctx, n, metav1.GetOptions{})
			if err != nil || !hasDriver(cn.Spec.Drivers, driver) {
				return false
			}
		}
		ready := 0
		for _, p := range r.e.pods(t, r.ns, r.selector("app.kubernetes.io/component=csi-controller")) {
			if podReady(p) {
				ready++
			}
		}
		return ready == 1
	})
	// Only the MGS pod restarts; after the fault matrix some targets serve
	// on their second node, which is fine.
	poll(t, 2*time.Minute, "every target served and every client mounted", func() bool {
		for _, tp := range r.plan.Targets {
			if !slices.ContainsFunc(tp.Nodes, func(n string) bool { return r.serving(t, tp.Name, n) }) {
				return false
			}
		}
		return !slices.ContainsFunc(r.plan.Clients.Nodes, func(c string) bool { return !mounted(t, r.w, c, r.plan.Clients.MountPoint) })
	})
	t.Logf("TIMING helm upgrade enabling the provisioner to the driver registered on %d nodes: %.1f s", len(r.plan.Clients.Nodes), time.Since(start).Seconds())

	cs := fastClient(t, r.e.kubeconfig)
	claims := cs.CoreV1().PersistentVolumeClaims(r.ns)

	// Scale: every claim created at once, then all of them bound.
	start = time.Now()
	var wg sync.WaitGroup
	var failed atomic.Int32
	names := make(chan string)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range names {
				if _, err := claims.Create(ctx, claim(n, class, "1Mi"), metav1.CreateOptions{}); err != nil {
					t.Errorf("create claim %s: %v", n, err)
					failed.Add(1)
				}
			}
		}()
	}
	for i := range csiClaims {
		names <- fmt.Sprintf("scale-%04d", i)
	}
	close(names)
	wg.Wait()
	if failed.Load() > 0 {
		t.FailNow()
	}
	created := time.Since(start)
	bound := func() int {
		l, err := claims.List(ctx, metav1.ListOptions{})
		if err != nil {
			return -1
		}
		n := 0
		for _, c := range l.Items {
			if strings.HasPrefix(c.Name, "scale-") && c.Status.Phase == corev1.ClaimBound {
				n++
			}
		}
		return n
	}
	pollEvery(t, 5*time.Minute, time.Second, fmt.Sprintf("%d claims bound", csiClaims), func() bool { return bound() == csiClaims })
	t.Logf("TIMING %d claims (1 MiB each) created in %.1f s, all bound %.1f s after the first create", csiClaims, created.Seconds(), time.Since(start).Seconds())
	var scalePVs []string
	if l, err := claims.List(ctx, metav1.ListOptions{}); err == nil {
		for _, c := range l.Items {
			scalePVs = append(scalePVs, c.Spec.VolumeName)
		}
	}
	if len(scalePVs) != csiClaims {
		t.Fatalf("%d bound claims listed, want %d", len(scalePVs), csiClaims)
	}
	alloc := allocations(t, r, root)
	if len(alloc.Volumes) < csiClaims {
		t.Fatalf("allocation file records %d volumes, want at least %d", len(alloc.Volumes), csiClaims)
	}
	ids := map[uint32]string{}
	for name, vol := range alloc.Volumes {
		if other, dup := ids[vol.ProjectID]; dup {
			t.Fatalf("project ID %d given to %s and %s", vol.ProjectID, other, name)
		}
		ids[vol.ProjectID] = name
	}

	// One volume in a pod: writes stop at its capacity.
	const small = "quota"
	if _, err := claims.Create(ctx, claim(small, class, "2Mi"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pv := waitBound(t, cs, r.ns, small)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "writer"},
		Spec: corev1.PodSpec{
			NodeName: r.plan.Clients.Nodes[0],
			Containers: []corev1.Container{{Name: "app", Image: "kube-lustre.local/pause:3.10", ImagePullPolicy: corev1.PullNever,
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: small}}}},
		},
	}
	pod, err := cs.CoreV1().Pods(r.ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	poll(t, 2*time.Minute, "the writer pod running", func() bool {
		p, err := cs.CoreV1().Pods(r.ns).Get(ctx, pod.Name, metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning
	})
	// On simulated hosts the pod's container sees an empty directory; the
	// Lustre namespace is the simulated one. The write the pod would make
	// goes through the volume's bind mount at the kubelet's target path on
	// the pod's node, which the node plugin published.
	node := pod.Spec.NodeName
	run := r.w.Host(node)
	target := fmt.Sprintf("/var/lib/kubelet/pods/%s/volumes/kubernetes.io~csi/%s/mount", pod.UID, pv)
	// Past its capacity a buffered write succeeds and Lustre drops the
	// data; fsync reports EIO, then writes fail with EDQUOT (L-quota in
	// ci/vm/HOSTSIM-CORRECTIONS.md). conv=fsync makes dd see the overrun.
	write := func(mib int) error {
		_, err := host.Run(ctx, run, "dd", "if=/dev/zero", "of="+target+"/data", "bs=1M", fmt.Sprintf("count=%d", mib), "conv=fsync")
		return err
	}
	if err := write(3); !host.ExitedWith(err, 1, "Input/output error") {
		t.Fatalf("writing 3 MiB to a 2 MiB volume through the pod's mount: %v, want fsync's EIO", err)
	}
	if err := write(1); !host.ExitedWith(err, 1, "Disk quota exceeded") {
		t.Fatalf("writing after the EIO: %v, want EDQUOT", err)
	}
	vol, ok := allocations(t, r, root).Volumes[pv]
	if !ok {
		t.Fatalf("the allocation file does not record %s", pv)
	}
	id := vol.ProjectID
	q, err := lustre.ProjectQuota(ctx, run, v.ClientMountPoint(), id)
	if err != nil || q.Limits.BlockHardKiB != 2048 {
		t.Fatalf("quota of project %d: %+v %v, want a 2048 KiB hard limit", id, q, err)
	}
	t.Logf("a 3 MiB write to the 2 MiB volume %s failed its fsync with EIO, then writes got EDQUOT; usage %d KiB", pv, q.UsedKiB)

	// Expansion raises the limit; the same write then fits.
	start = time.Now()
	patch := []byte(`{"spec":{"resources":{"requests":{"storage":"8Mi"}}}}`)
	if _, err := claims.Patch(ctx, small, "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, 2*time.Minute, "the claim's capacity raised to 8Mi", func() bool {
		c, err := claims.Get(ctx, small, metav1.GetOptions{})
		return err == nil && c.Status.Capacity.Storage().Cmp(resource.MustParse("8Mi")) == 0
	})
	t.Logf("TIMING expansion 2Mi -> 8Mi: %.1f s", time.Since(start).Seconds())
	if err := write(3); err != nil {
		t.Fatalf("writing 3 MiB after expanding to 8 MiB: %v", err)
	}

	// Deleting the claim frees its directory and quota.
	if err := cs.CoreV1().Pods(r.ns).Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, 2*time.Minute, "the writer pod gone and its volume unpublished", func() bool {
		_, err := cs.CoreV1().Pods(r.ns).Get(ctx, pod.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err) && !mounted(t, r.w, node, target)
	})
	if err := claims.Delete(ctx, small, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, 2*time.Minute, "the volume "+pv+" deleted", func() bool {
		_, err := cs.CoreV1().PersistentVolumes().Get(ctx, pv, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	if _, err := host.Run(ctx, run, "test", "-e", path.Join(root, pv)); !host.ExitedWith(err, 1, "") {
		t.Errorf("%s still exists after its claim was deleted: %v", path.Join(root, pv), err)
	}
	if _, ok := allocations(t, r, root).Volumes[pv]; ok {
		t.Errorf("the allocation file still records %s", pv)
	}
	if q, err := lustre.ProjectQuota(ctx, run, v.ClientMountPoint(), id); err != nil || q.Limits != (lustre.Limits{}) || q.UsedKiB != 0 {
		t.Errorf("project %d after deletion: %+v %v, want no usage and no limits", id, q, err)
	}

	// With volumes left, helm uninstall is refused by its pre-delete hook
	// and nothing of the release is touched.
	pods := len(r.e.pods(t, r.ns, r.selector("")))
	err = helm.DeleteContextE(t, context.Background(), r.opts, chartRelease, true)
	if err == nil || !strings.Contains(err.Error(), "refusing to uninstall") || !strings.Contains(err.Error(), "volume(s) of "+driver+" still exist") {
		t.Fatalf("helm uninstall with %d volumes left: %v, want refused naming them", csiClaims, err)
	}
	t.Logf("uninstall refused as it should be: %s", err.Error()[strings.Index(err.Error(), "refusing"):min(len(err.Error()), strings.Index(err.Error(), "refusing")+200)])
	// Helm 3 has recorded the release as "uninstalling" when it started
	// the hook (helm upgrade refuses such a release) but deleted nothing;
	// the rollback the message gives lists it as deployed again.
	var st struct {
		Version int `json:"version"`
		Info    struct {
			Status string `json:"status"`
		} `json:"info"`
	}
	out, serr := helm.RunHelmCommandAndGetOutputContextE(t, context.Background(), r.opts, "status", chartRelease, "-o", "json")
	if serr != nil || json.Unmarshal([]byte(out), &st) != nil {
		t.Fatalf("helm status after the refused uninstall: %v\n%s", serr, out)
	}
	rollback := fmt.Sprintf("helm rollback %s %d -n %s", chartRelease, st.Version, r.ns)
	if !strings.Contains(err.Error(), rollback) {
		t.Fatalf("the refusal does not give %q: %v", rollback, err)
	}
	t.Logf("release %s after the refused uninstall; %s", st.Info.Status, rollback)
	if _, err := helm.RunHelmCommandAndGetOutputContextE(t, context.Background(), r.opts, "rollback", chartRelease, fmt.Sprint(st.Version)); err != nil {
		t.Fatal(err)
	}
	if out, err := helm.RunHelmCommandAndGetOutputContextE(t, context.Background(), r.opts, "status", chartRelease); err != nil || !strings.Contains(out, "STATUS: deployed") {
		t.Fatalf("release after the rollback: %v\n%s", err, out)
	}
	if now := len(r.e.pods(t, r.ns, r.selector(""))); now < pods {
		t.Fatalf("the refused uninstall removed pods: %d, was %d", now, pods)
	}

	// Every scale claim deleted: every directory goes.
	start = time.Now()
	if err := claims.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	pollEvery(t, 5*time.Minute, time.Second, "every volume deleted", func() bool {
		l, err := cs.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
		return err == nil && len(l.Items) == 0
	})
	t.Logf("TIMING %d claims deleted to every volume deleted: %.1f s", csiClaims, time.Since(start).Seconds())
	if left := allocations(t, r, root).Volumes; len(left) != 0 {
		t.Errorf("the allocation file still records %d volumes after every claim was deleted", len(left))
	}
	for _, pv := range scalePVs {
		if _, err := host.Run(ctx, run, "test", "-e", path.Join(root, pv)); !host.ExitedWith(err, 1, "") {
			t.Fatalf("%s still exists after its claim was deleted: %v", path.Join(root, pv), err)
		}
	}
}

func hasDriver(ds []storagev1.CSINodeDriver, name string) bool {
	for _, d := range ds {
		if d.Name == name {
			return true
		}
	}
	return false
}

func claim(name, class, size string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
			StorageClassName: &class,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
		},
	}
}

// fastClient is a client allowed to make the thousands of requests the
// scale case needs (client-go's default is 5 per second).
func fastClient(t testing.TB, kubeconfig string) *kubernetes.Clientset {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 500, 1000
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func waitBound(t testing.TB, cs *kubernetes.Clientset, ns, name string) string {
	t.Helper()
	var pv string
	poll(t, time.Minute, "claim "+name+" bound", func() bool {
		c, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil || c.Status.Phase != corev1.ClaimBound {
			return false
		}
		pv = c.Spec.VolumeName
		return true
	})
	return pv
}

// allocationFile is the driver's record of volumes on the filesystem
// (internal/csi), as much of it as the test reads.
type allocationFile struct {
	Volumes map[string]struct {
		ProjectID uint32 `json:"projectID"`
	} `json:"volumes"`
}

func allocations(t testing.TB, r *release, root string) allocationFile {
	t.Helper()
	b, err := host.ReadFile(context.Background(), r.w.Host(r.plan.Clients.Nodes[0]), path.Join(root, ".volumes.json"))
	if err != nil {
		t.Fatal(err)
	}
	var a allocationFile
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("allocation file: %v", err)
	}
	return a
}
