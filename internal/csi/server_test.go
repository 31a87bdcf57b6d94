package csi

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/kube-lustre/kube-lustre/internal/metrics"
)

func TestInterceptorTurnsPanicsIntoErrors(t *testing.T) {
	d, err := New(Config{Name: "x", MountPoint: "/mnt/x", Root: "/mnt/x", FirstProjectID: 1, LastProjectID: 2, DefaultCapacity: MinCapacity}, nil, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.intercept(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/csi.v1.Node/NodePublishVolume"},
		func(context.Context, any) (any, error) { panic("boom") })
	wantCode(t, err, codes.Internal, "boom")
}

// Every call is counted by method and code, with its latency (issue 18);
// a panic counts as Internal.
func TestInterceptorRecordsMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	d, err := New(Config{Name: "x", MountPoint: "/mnt/x", Root: "/mnt/x", FirstProjectID: 1, LastProjectID: 2, DefaultCapacity: MinCapacity,
		Metrics: metrics.NewCSI(reg)}, nil, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	ok := func(context.Context, any) (any, error) { return nil, nil }
	for range 2 {
		if _, err := d.intercept(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/csi.v1.Controller/CreateVolume"}, ok); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = d.intercept(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/csi.v1.Node/NodePublishVolume"},
		func(context.Context, any) (any, error) { panic("boom") })
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"kube_lustre_csi_operations_total", map[string]string{"method": "CreateVolume", "code": "OK"}, 2},
		{"kube_lustre_csi_operations_total", map[string]string{"method": "NodePublishVolume", "code": "Internal"}, 1},
		{"kube_lustre_csi_operation_duration_seconds", map[string]string{"method": "CreateVolume"}, 2},
	} {
		if v, _, err := metrics.Families(fams).Value(c.name, c.labels); err != nil || v != c.want {
			t.Errorf("%s%v = %v (%v), want %v", c.name, c.labels, v, err, c.want)
		}
	}
}

func TestListen(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "not-a-socket")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen("unix://" + file); err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Fatalf("listen over a regular file: %v", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "x" {
		t.Fatal("the file was touched")
	}
	for _, bad := range []string{"tcp://0:1", "unix://relative.sock", "/abs/without/scheme"} {
		if _, err := Listen(bad); err == nil {
			t.Fatalf("accepted endpoint %q", bad)
		}
	}
	l, err := Listen("unix://" + filepath.Join(dir, "csi.sock"))
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
}

func TestConfigValidate(t *testing.T) {
	good := Config{Name: "lfs1.lustre.csi.kube-lustre.io", MountPoint: "/mnt/lfs1", Root: "/mnt/lfs1/csi", FirstProjectID: 1000, LastProjectID: 2000, DefaultCapacity: 1 << 30}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, mutate := range []func(*Config){
		func(c *Config) { c.Name = "" },
		func(c *Config) { c.MountPoint = "/" },
		func(c *Config) { c.Root = "/mnt/lfs10/csi" },
		func(c *Config) { c.Root = "/mnt/lfs1/../etc" },
		func(c *Config) { c.FirstProjectID = 0 },
		func(c *Config) { c.LastProjectID = 10 },
		func(c *Config) { c.DefaultCapacity = 1 },
	} {
		c := good
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Fatalf("accepted %+v", c)
		}
	}
}
