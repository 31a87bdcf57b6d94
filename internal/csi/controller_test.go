package csi

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/hostsim"
	"github.com/kube-lustre/kube-lustre/internal/lustre"
)

var mountCap = &csi.VolumeCapability{
	AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER},
	AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
}

func createReq(name string, bytes int64, params map[string]string) *csi.CreateVolumeRequest {
	return &csi.CreateVolumeRequest{Name: name, CapacityRange: &csi.CapacityRange{RequiredBytes: bytes},
		VolumeCapabilities: []*csi.VolumeCapability{mountCap}, Parameters: params}
}

func (e *env) create(name string, bytes int64, params map[string]string) *csi.Volume {
	e.t.Helper()
	res, err := e.ctrl.Controller().CreateVolume(context.Background(), createReq(name, bytes, params))
	if err != nil {
		e.t.Fatalf("CreateVolume %s: %v", name, err)
	}
	return res.GetVolume()
}

func (e *env) delete(name string) {
	e.t.Helper()
	if _, err := e.ctrl.Controller().DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: name}); err != nil {
		e.t.Fatalf("DeleteVolume %s: %v", name, err)
	}
}

// project returns a directory's project ID as lfs project -d shows it.
func (e *env) project(hostName, dir string) uint32 {
	e.t.Helper()
	id, inherit, err := lustre.ProjectOf(context.Background(), e.w.Host(hostName), dir)
	if err != nil || !inherit {
		e.t.Fatalf("project of %s: %d inherit=%v %v", dir, id, inherit, err)
	}
	return id
}

func (e *env) quota(id uint32) lustre.Quota {
	e.t.Helper()
	q, err := lustre.ProjectQuota(context.Background(), e.w.Host("c2"), "/mnt/lfs1", id)
	if err != nil {
		e.t.Fatal(err)
	}
	return q
}

func (e *env) allocation() allocation {
	e.t.Helper()
	var a allocation
	if err := json.Unmarshal([]byte(e.mustSh("c2", "cat", "/mnt/lfs1/csi/.volumes.json")), &a); err != nil {
		e.t.Fatal(err)
	}
	return a
}

func wantCode(t *testing.T, err error, code codes.Code, msg string) {
	t.Helper()
	if status.Code(err) != code || !strings.Contains(status.Convert(err).Message(), msg) {
		t.Fatalf("got %v, want %s containing %q", err, code, msg)
	}
}

// TestCreateVolume: a directory under the root, its own project ID with
// the inherit flag, the capacity as hard block limit, the inode limit
// from the StorageClass, and the capacity read back from the quota.
func TestCreateVolume(t *testing.T) {
	e := newEnv(t, true)
	v := e.create("pvc-1", 3*mib+1, map[string]string{ParamInodeLimit: "500", "csi.storage.k8s.io/pvc/name": "data"})
	if v.GetVolumeId() != "pvc-1" || v.GetCapacityBytes() != 3*mib+kib {
		t.Fatalf("volume %+v: want ID pvc-1 and 3 MiB + 1 KiB (rounded up to KiB)", v)
	}
	if id := e.project("c2", "/mnt/lfs1/csi/pvc-1"); id != 1000 || v.GetVolumeContext()[ContextProjectID] != "1000" {
		t.Fatalf("project %d, context %v; want 1000", id, v.GetVolumeContext())
	}
	if q := e.quota(1000); q.BlockHardKiB != 3*1024+1 || q.InodeHard != 500 || q.Inodes != 1 {
		t.Fatalf("quota %+v", q)
	}
	// Same name and capacity: the same volume. A different capacity or
	// different parameters: AlreadyExists.
	if again := e.create("pvc-1", 3*mib+1, map[string]string{ParamInodeLimit: "500"}); again.GetCapacityBytes() != v.GetCapacityBytes() {
		t.Fatalf("second create: %+v", again)
	}
	_, err := e.ctrl.Controller().CreateVolume(context.Background(), createReq("pvc-1", 10*mib, map[string]string{ParamInodeLimit: "500"}))
	wantCode(t, err, codes.AlreadyExists, "outside the requested range")
	_, err = e.ctrl.Controller().CreateVolume(context.Background(), createReq("pvc-1", 3*mib, nil))
	wantCode(t, err, codes.AlreadyExists, "inodeLimit=500")
	// No capacity asked: the default.
	if d := e.create("pvc-2", 0, nil); d.GetCapacityBytes() != 1<<30 {
		t.Fatalf("default capacity %d", d.GetCapacityBytes())
	}
}

// TestProjectIDsNeverReused: IDs only grow, across deletions and driver
// restarts, and IDs already in use on the filesystem are skipped.
func TestProjectIDsNeverReused(t *testing.T) {
	e := newEnv(t, true)
	ids := map[string]uint32{}
	idOf := func(name string) uint32 { return e.project("c2", "/mnt/lfs1/csi/"+name) }
	for _, n := range []string{"a", "b", "c"} {
		e.create(n, 4*mib, nil)
		ids[n] = idOf(n)
	}
	e.delete("b")
	e.delete("c")
	e.ctrl = e.driver("c1") // a restarted controller
	e.create("d", 4*mib, nil)
	// An ID used outside the driver (an administrator's project) is skipped.
	e.mustSh("c1", "mkdir", "/mnt/lfs1/other")
	e.mustSh("c1", "lfs", "project", "-p", "1004", "-s", "/mnt/lfs1/other")
	e.ctrl = e.driver("c2") // restarted on another client node
	e.create("e", 4*mib, nil)
	e.create("b", 4*mib, nil) // a name reused after deletion gets a new ID
	got := []uint32{ids["a"], ids["b"], ids["c"], idOf("d"), idOf("e"), idOf("b")}
	want := []uint32{1000, 1001, 1002, 1003, 1005, 1006}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("project IDs %v, want %v", got, want)
		}
	}
	if a := e.allocation(); a.Next != 1007 || len(a.Volumes) != 4 {
		t.Fatalf("allocation %+v", a)
	}
}

// TestCreateResumesAfterCrash: the record is saved before the ID is used,
// so a controller node lost half-way through leaves a record that the
// retry, from a new process, completes with the same ID.
func TestCreateResumesAfterCrash(t *testing.T) {
	e := newEnv(t, true)
	must(t, e.w.CrashAt("c1", hostsim.Match{Args: []string{"lfs", "project", "-p"}}, hostsim.Before))
	if _, err := e.ctrl.Controller().CreateVolume(context.Background(), createReq("pvc-1", 4*mib, nil)); err == nil {
		t.Fatal("create succeeded on a crashed node")
	}
	must(t, e.w.Boot("c1"))
	// The client's order: LNet configured before lustre loads.
	for _, a := range [][]string{{"modprobe", "lnet"}, {"lnetctl", "lnet", "configure"}, {"lnetctl", "net", "add", "--net", "tcp0", "--if", "eth1"},
		{"modprobe", "lustre"}, {"mount", "-t", "lustre", "10.9.0.1@tcp:/lfs1", "/mnt/lfs1"}} {
		e.mustSh("c1", a...)
	}
	e.ctrl = e.driver("c1")
	e.create("pvc-1", 4*mib, nil)
	if id := e.project("c2", "/mnt/lfs1/csi/pvc-1"); id != 1000 {
		t.Fatalf("project %d after the retry, want the recorded 1000", id)
	}
	if q := e.quota(1000); q.BlockHardKiB != 4096 {
		t.Fatalf("quota %+v", q)
	}
	// A failed setquota is retried the same way.
	must(t, e.w.FailNext("c1", hostsim.Match{Args: []string{"lfs", "setquota"}}, host.Result{ExitCode: 1, Stderr: "lfs setquota: quotactl failed: Input/output error\n"}))
	_, err := e.ctrl.Controller().CreateVolume(context.Background(), createReq("pvc-2", 4*mib, nil))
	wantCode(t, err, codes.Unavailable, "setting the quota of project 1001")
	e.create("pvc-2", 4*mib, nil)
	if q := e.quota(1001); q.BlockHardKiB != 4096 {
		t.Fatalf("quota after the retry %+v", q)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestDeleteModes: delete removes the directory and lifts the limits;
// retain keeps both; archive moves the directory aside with its project.
// All are idempotent, and the name of a retained volume cannot be reused
// while its directory is there.
func TestDeleteModes(t *testing.T) {
	e := newEnv(t, true)
	for _, m := range []string{OnDeleteDelete, OnDeleteRetain, OnDeleteArchive} {
		e.create(m, 4*mib, map[string]string{ParamOnDelete: m})
		e.mustSh("c2", "dd", "if=/dev/zero", "of=/mnt/lfs1/csi/"+m+"/data", "bs=1K", "count=8")
	}
	// An archive whose move fails is retried to the same place.
	must(t, e.w.FailNext("c1", hostsim.Match{Args: []string{"mv", "/mnt/lfs1/csi/archive"}}, host.Result{ExitCode: 1, Stderr: "mv: cannot move: Input/output error\n"}))
	_, err := e.ctrl.Controller().DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: OnDeleteArchive})
	wantCode(t, err, codes.Unavailable, "archiving")
	e.now = e.now.Add(1e9 * 3600) // the retry comes later; the name must not change
	for range 2 {
		for _, m := range []string{OnDeleteDelete, OnDeleteRetain, OnDeleteArchive} {
			e.delete(m)
		}
	}
	if e.exists("c2", "/mnt/lfs1/csi/delete") {
		t.Fatal("deleted volume's directory is still there")
	}
	if q := e.quota(1000); q != (lustre.Quota{}) {
		t.Fatalf("deleted volume's project still has usage or limits: %+v", q)
	}
	if !e.exists("c2", "/mnt/lfs1/csi/retain/data") || e.quota(1001).BlockHardKiB != 4096 {
		t.Fatal("retained volume lost its data or its limit")
	}
	archived := "/mnt/lfs1/csi/.archive/archive-20300102T030405Z"
	if !e.exists("c2", archived+"/data") || e.project("c2", archived) != 1002 || e.exists("c2", "/mnt/lfs1/csi/archive") {
		t.Fatalf("archive: want the data at %s with project 1002", archived)
	}
	a := e.allocation()
	if len(a.Volumes) != 0 || len(a.Released) != 2 || a.Released[1].Path != archived {
		t.Fatalf("allocation %+v", a)
	}
	_, err = e.ctrl.Controller().CreateVolume(context.Background(), createReq(OnDeleteRetain, 4*mib, nil))
	wantCode(t, err, codes.AlreadyExists, "/mnt/lfs1/csi/retain exists but is not a volume this driver created")
	e.create(OnDeleteArchive, 4*mib, nil) // the archived name is free again, with a new ID
	if id := e.project("c2", "/mnt/lfs1/csi/archive"); id != 1003 {
		t.Fatalf("re-created volume has project %d, want 1003", id)
	}
}

// TestExpand: the limit is raised, never lowered; no node step is needed.
func TestExpand(t *testing.T) {
	e := newEnv(t, true)
	e.create("pvc-1", 4*mib, nil)
	expand := func(bytes int64) (*csi.ControllerExpandVolumeResponse, error) {
		return e.ctrl.Controller().ControllerExpandVolume(context.Background(), &csi.ControllerExpandVolumeRequest{VolumeId: "pvc-1", CapacityRange: &csi.CapacityRange{RequiredBytes: bytes}})
	}
	res, err := expand(8 * mib)
	if err != nil || res.GetCapacityBytes() != 8*mib || res.GetNodeExpansionRequired() {
		t.Fatalf("expand: %+v %v", res, err)
	}
	res, err = expand(6 * mib)
	if err != nil || res.GetCapacityBytes() != 8*mib {
		t.Fatalf("shrink request: %+v %v; want the capacity kept at 8 MiB", res, err)
	}
	if q := e.quota(1000); q.BlockHardKiB != 8192 {
		t.Fatalf("quota %+v", q)
	}
	// CreateVolume with the original request still matches (the volume
	// is at least as big as asked).
	e.create("pvc-1", 4*mib, nil)
	_, err = e.ctrl.Controller().ControllerExpandVolume(context.Background(), &csi.ControllerExpandVolumeRequest{VolumeId: "nope", CapacityRange: &csi.CapacityRange{RequiredBytes: mib}})
	wantCode(t, err, codes.NotFound, "does not exist")
}

// TestRequestValidation covers what the sanity suite does not.
func TestRequestValidation(t *testing.T) {
	e := newEnv(t, true)
	c := e.ctrl.Controller()
	ctx := context.Background()
	block := &csi.VolumeCapability{AccessMode: mountCap.AccessMode, AccessType: &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}}}
	flags := &csi.VolumeCapability{AccessMode: mountCap.AccessMode, AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{MountFlags: []string{"noatime"}}}}
	cases := []struct {
		name string
		req  *csi.CreateVolumeRequest
		code codes.Code
		msg  string
	}{
		{"path in name", createReq("../etc", mib, nil), codes.InvalidArgument, "cannot be a directory name"},
		{"hidden name", createReq(".volumes.json", mib, nil), codes.InvalidArgument, "not starting with '.'"},
		{"unknown parameter", createReq("v", mib, map[string]string{"ondelete": "retain"}), codes.InvalidArgument, `unknown parameter "ondelete"`},
		{"bad onDelete", createReq("v", mib, map[string]string{ParamOnDelete: "keep"}), codes.InvalidArgument, "want delete, retain or archive"},
		{"bad inodeLimit", createReq("v", mib, map[string]string{ParamInodeLimit: "-1"}), codes.InvalidArgument, "whole number"},
		{"block", &csi.CreateVolumeRequest{Name: "v", VolumeCapabilities: []*csi.VolumeCapability{block}}, codes.InvalidArgument, "use volumeMode: Filesystem"},
		{"mount flags", &csi.CreateVolumeRequest{Name: "v", VolumeCapabilities: []*csi.VolumeCapability{flags}}, codes.InvalidArgument, "clients.mountOptions"},
		{"limit below the minimum", &csi.CreateVolumeRequest{Name: "v", VolumeCapabilities: []*csi.VolumeCapability{mountCap}, CapacityRange: &csi.CapacityRange{LimitBytes: 1000}}, codes.OutOfRange, "at least"},
		{"required over limit", &csi.CreateVolumeRequest{Name: "v", VolumeCapabilities: []*csi.VolumeCapability{mountCap}, CapacityRange: &csi.CapacityRange{RequiredBytes: 2 * mib, LimitBytes: mib}}, codes.OutOfRange, "more than the limit"},
		{"source", &csi.CreateVolumeRequest{Name: "v", VolumeCapabilities: []*csi.VolumeCapability{mountCap}, VolumeContentSource: &csi.VolumeContentSource{}}, codes.InvalidArgument, "not supported"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.CreateVolume(ctx, tc.req)
			wantCode(t, err, tc.code, tc.msg)
		})
	}
	// A malformed ID names no volume: deleting it is a no-op that touches
	// nothing, whatever the path it spells.
	e.mustSh("c1", "mkdir", "-p", "/mnt/lfs1/keep")
	for _, id := range []string{"..", "../keep", "/mnt/lfs1/keep", ".archive"} {
		if _, err := c.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: id}); err != nil {
			t.Fatalf("DeleteVolume %q: %v", id, err)
		}
	}
	if !e.exists("c2", "/mnt/lfs1/keep") {
		t.Fatal("a malformed volume ID deleted something")
	}
	res, err := c.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{VolumeId: e.create("v", mib, nil).GetVolumeId(), VolumeCapabilities: []*csi.VolumeCapability{block}})
	if err != nil || res.GetConfirmed() != nil || !strings.Contains(res.GetMessage(), "block") {
		t.Fatalf("validate block: %+v %v", res, err)
	}
}

// TestRootInProject: a root whose project is inherited would put every
// new volume in that project first; the driver says so instead of
// fighting over the ID.
func TestRootInProject(t *testing.T) {
	e := newEnv(t, true)
	e.mustSh("c1", "mkdir", "-p", "/mnt/lfs1/csi")
	e.mustSh("c1", "lfs", "project", "-p", "7", "-s", "/mnt/lfs1/csi")
	_, err := e.ctrl.Controller().CreateVolume(context.Background(), createReq("pvc-1", mib, nil))
	wantCode(t, err, codes.FailedPrecondition, "lfs project -C /mnt/lfs1/csi")
	e.mustSh("c1", "lfs", "project", "-C", "/mnt/lfs1/csi")
	e.mustSh("c1", "lfs", "project", "-C", "/mnt/lfs1/csi/pvc-1")
	e.create("pvc-1", mib, nil) // the retry completes the recorded volume
	if id := e.project("c2", "/mnt/lfs1/csi/pvc-1"); id != 1000 {
		t.Fatalf("project %d", id)
	}
}

// TestNoClientMount: without the Lustre client mounted the root is a
// plain directory of the node's disk: every request refuses, and nothing
// is created there.
func TestNoClientMount(t *testing.T) {
	e := newEnv(t, true)
	e.mustSh("c1", "umount", "/mnt/lfs1")
	_, err := e.ctrl.Controller().CreateVolume(context.Background(), createReq("pvc-1", mib, nil))
	wantCode(t, err, codes.FailedPrecondition, "no Lustre client is mounted at /mnt/lfs1")
	if e.exists("c1", "/mnt/lfs1/csi") {
		t.Fatal("created the root on the node's own disk")
	}
	res, err := e.ctrl.Identity().Probe(context.Background(), &csi.ProbeRequest{})
	if err != nil || res.GetReady().GetValue() {
		t.Fatalf("probe %+v %v: want not ready", res, err)
	}
}

// TestFilesystemDown: with MDT0 unreachable nothing can be decided; the
// allocation is not mistaken for missing, so IDs carry on afterwards.
func TestFilesystemDown(t *testing.T) {
	e := newEnv(t, true)
	e.create("a", mib, nil)
	e.mustSh("mds1", "umount", "/mnt/mdt0")
	_, err := e.ctrl.Controller().CreateVolume(context.Background(), createReq("b", mib, nil))
	wantCode(t, err, codes.Unavailable, "Input/output error")
	e.mustSh("mds1", "mount", "-t", "lustre", "lfs1-p0/mdt0", "/mnt/mdt0")
	e.create("b", mib, nil)
	if id := e.project("c2", "/mnt/lfs1/csi/b"); id != 1001 {
		t.Fatalf("project %d, want 1001", id)
	}
}

// TestConcurrentCreatesShareAllocationWrites: claims created at once (a
// storm of PVCs) each get their own project ID, tagged on their own
// directory, while the allocation file is rewritten once per batch rather
// than once per volume.
func TestConcurrentCreatesShareAllocationWrites(t *testing.T) {
	e := newEnv(t, true)
	const n = 40
	var wg sync.WaitGroup
	vols := make([]*csi.Volume, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := e.ctrl.Controller().CreateVolume(context.Background(), createReq(fmt.Sprintf("pvc-%02d", i), mib, nil))
			vols[i], errs[i] = res.GetVolume(), err
		}()
	}
	wg.Wait()
	ids := map[uint32]bool{}
	for i, v := range vols {
		if errs[i] != nil {
			t.Fatalf("CreateVolume pvc-%02d: %v", i, errs[i])
		}
		id := e.project("c2", "/mnt/lfs1/csi/"+v.GetVolumeId())
		if ids[id] || v.GetCapacityBytes() != mib {
			t.Fatalf("%s: project %d (seen before: %v), %d bytes", v.GetVolumeId(), id, ids[id], v.GetCapacityBytes())
		}
		ids[id] = true
	}
	log, err := e.w.Log()
	if err != nil {
		t.Fatal(err)
	}
	writes := 0
	for _, l := range log {
		if len(l.Argv) == 2 && l.Argv[0] == "tee" && l.Argv[1] == "/mnt/lfs1/csi/.volumes.json.tmp" {
			writes++
		}
	}
	if writes == 0 || writes >= n {
		t.Fatalf("the allocation file was written %d times for %d concurrent volumes, want fewer (batched)", writes, n)
	}
	t.Logf("%d concurrent volumes, %d writes of the allocation file", n, writes)
	// A second create of an existing volume is answered from its record.
	if again := e.create("pvc-07", mib, nil); again.GetVolumeId() != "pvc-07" {
		t.Fatalf("repeat create: %+v", again)
	}
}
