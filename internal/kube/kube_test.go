package kube

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
)

// An API server stand-in that records requests: it checks that the client
// speaks the core/v1 REST paths, verbs, patch content type and decodes the
// answers. (The real API server is exercised by the e2e suite.)
func TestNodesRequests(t *testing.T) {
	type req struct{ method, path, query, ctype, body string }
	var got []req
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, req{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type"), string(b)})
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/api/v1/nodes":
			_ = json.NewEncoder(w).Encode(corev1.NodeList{TypeMeta: metav1.TypeMeta{Kind: "NodeList", APIVersion: "v1"},
				Items: []corev1.Node{{ObjectMeta: metav1.ObjectMeta{Name: "s1"}}, {ObjectMeta: metav1.ObjectMeta{Name: "s2"}}}})
		case r.URL.Path == "/api/v1/nodes/missing":
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
				Status: "Failure", Reason: metav1.StatusReasonNotFound, Code: 404, Message: `nodes "missing" not found`})
		default:
			_ = json.NewEncoder(w).Encode(corev1.Node{TypeMeta: metav1.TypeMeta{Kind: "Node", APIVersion: "v1"},
				ObjectMeta: metav1.ObjectMeta{Name: "s1", Labels: map[string]string{"a": "b"}},
				Status:     corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.1"}}}})
		}
	}))
	defer srv.Close()
	n, err := NewNodes(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	node, err := n.Get(ctx, "s1", metav1.GetOptions{})
	if err != nil || node.Status.Addresses[0].Address != "10.0.0.1" {
		t.Fatalf("get: %+v %v", node, err)
	}
	list, err := n.List(ctx, metav1.ListOptions{LabelSelector: "role=x"})
	if err != nil || len(list.Items) != 2 {
		t.Fatalf("list: %+v %v", list, err)
	}
	if _, err := n.Patch(ctx, "s1", types.MergePatchType, []byte(`{"metadata":{"labels":{"a":null}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Get(ctx, "missing", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("404 must be a NotFound error, got %v", err)
	}
	want := []req{
		{"GET", "/api/v1/nodes/s1", "", "", ""},
		{"GET", "/api/v1/nodes", "labelSelector=role%3Dx", "", ""},
		{"PATCH", "/api/v1/nodes/s1", "", "application/merge-patch+json", `{"metadata":{"labels":{"a":null}}}`},
		{"GET", "/api/v1/nodes/missing", "", "", ""},
	}
	if len(got) != len(want) {
		t.Fatalf("requests = %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("request %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// Lease writes go to the coordination group's namespaced path with a body
// that names its apiVersion and kind.
func TestLeasesRequests(t *testing.T) {
	var paths, bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		paths = append(paths, r.Method+" "+r.URL.Path)
		bodies = append(bodies, string(b))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"l","resourceVersion":"7"}}`))
	}))
	defer srv.Close()
	l, err := NewLeases(&rest.Config{Host: srv.URL}, "lustre")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "l"}}
	if out, err := l.Create(ctx, lease, metav1.CreateOptions{}); err != nil || out.ResourceVersion != "7" {
		t.Fatalf("create: %+v %v", out, err)
	}
	if _, err := l.Update(ctx, lease, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Get(ctx, "l", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	want := []string{"POST /apis/coordination.k8s.io/v1/namespaces/lustre/leases",
		"PUT /apis/coordination.k8s.io/v1/namespaces/lustre/leases/l",
		"GET /apis/coordination.k8s.io/v1/namespaces/lustre/leases/l"}
	for i, w := range want {
		if i >= len(paths) || paths[i] != w {
			t.Fatalf("requests = %v, want %v", paths, want)
		}
	}
	for _, b := range bodies[:2] {
		if !strings.Contains(b, `"apiVersion":"coordination.k8s.io/v1"`) || !strings.Contains(b, `"kind":"Lease"`) {
			t.Fatalf("body lacks its type: %s", b)
		}
	}
}

// A force delete sends grace period 0 and the UID precondition in the body;
// an update replaces the pod (with its resourceVersion) by name.
func TestPodsAndEventsRequests(t *testing.T) {
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen = append(seen, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery+" "+string(b))
		w.Header().Set("Content-Type", "application/json")
		switch r.Method {
		case "GET":
			_, _ = w.Write([]byte(`{"apiVersion":"v1","kind":"PodList","items":[{"metadata":{"name":"p0"}}]}`))
		case "DELETE":
			_, _ = w.Write([]byte(`{"apiVersion":"v1","kind":"Status","status":"Success"}`))
		case "PUT":
			_, _ = w.Write(b)
		default:
			_, _ = w.Write([]byte(`{"apiVersion":"v1","kind":"Event","metadata":{"name":"e"}}`))
		}
	}))
	defer srv.Close()
	cfg := &rest.Config{Host: srv.URL}
	pods, err := NewPods(cfg, "lustre")
	if err != nil {
		t.Fatal(err)
	}
	events, err := NewEvents(cfg, "lustre")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if l, err := pods.List(ctx, metav1.ListOptions{LabelSelector: "a=b"}); err != nil || len(l.Items) != 1 {
		t.Fatalf("list: %v %v", l, err)
	}
	zero, uid := int64(0), types.UID("u1")
	if err := pods.Delete(ctx, "p0", metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}}); err != nil {
		t.Fatal(err)
	}
	if _, err := events.Create(ctx, &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e"}, Reason: "R"}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	up := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p0", ResourceVersion: "7"}, Spec: corev1.PodSpec{NodeSelector: map[string]string{"k": "s2"}}}
	if got, err := pods.Update(ctx, up, metav1.UpdateOptions{}); err != nil || got.Spec.NodeSelector["k"] != "s2" {
		t.Fatalf("update: %+v %v", got, err)
	}
	if len(seen) != 4 || !strings.HasPrefix(seen[3], "PUT /api/v1/namespaces/lustre/pods/p0? ") ||
		!strings.Contains(seen[3], `"kind":"Pod"`) || !strings.Contains(seen[3], `"resourceVersion":"7"`) || !strings.Contains(seen[3], `"nodeSelector":{"k":"s2"}`) || !strings.HasPrefix(seen[0], "GET /api/v1/namespaces/lustre/pods?labelSelector=a%3Db") ||
		!strings.HasPrefix(seen[1], "DELETE /api/v1/namespaces/lustre/pods/p0? ") ||
		!strings.Contains(seen[1], `"gracePeriodSeconds":0`) || !strings.Contains(seen[1], `"uid":"u1"`) ||
		!strings.HasPrefix(seen[2], "POST /api/v1/namespaces/lustre/events? ") || !strings.Contains(seen[2], `"kind":"Event"`) {
		t.Fatalf("requests:\n%s", strings.Join(seen, "\n"))
	}
}

// The target record's writes: POST to the namespace, PUT by name, with a
// body that names its type; a 404 comes back as NotFound.
func TestConfigMapsRequests(t *testing.T) {
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen = append(seen, r.Method+" "+r.URL.Path+" "+string(b))
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodGet {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"apiVersion":"v1","kind":"Status","status":"Failure","reason":"NotFound","code":404}`))
			return
		}
		_, _ = w.Write([]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"r","resourceVersion":"3"}}`))
	}))
	defer srv.Close()
	m, err := NewConfigMaps(&rest.Config{Host: srv.URL}, "lustre")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := m.Get(ctx, "r", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("get of a missing ConfigMap: %v, want NotFound", err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "r"}, Data: map[string]string{"k": "v"}}
	if out, err := m.Create(ctx, cm, metav1.CreateOptions{}); err != nil || out.ResourceVersion != "3" {
		t.Fatalf("create: %+v %v", out, err)
	}
	if _, err := m.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"GET /api/v1/namespaces/lustre/configmaps/r", "POST /api/v1/namespaces/lustre/configmaps ", "PUT /api/v1/namespaces/lustre/configmaps/r "} {
		if i >= len(seen) || !strings.HasPrefix(seen[i], want) {
			t.Fatalf("requests %q, want %q at %d", seen, want, i)
		}
	}
	for _, b := range seen[1:] {
		if !strings.Contains(b, `"kind":"ConfigMap"`) || !strings.Contains(b, `"k":"v"`) {
			t.Fatalf("body: %s", b)
		}
	}
}

// The plugin's reads: ConfigMaps by label, and the exec URL of kubectl
// exec with its options as the API server takes them.
func TestConfigMapListAndExecURL(t *testing.T) {
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"apiVersion":"v1","kind":"ConfigMapList","items":[{"metadata":{"name":"t"},"data":{"values.yaml":"x"}}]}`))
	}))
	defer srv.Close()
	cfg := &rest.Config{Host: srv.URL}
	m, err := NewConfigMaps(cfg, "lustre")
	if err != nil {
		t.Fatal(err)
	}
	l, err := m.List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=lfs1"})
	if err != nil || len(l.Items) != 1 || l.Items[0].Data["values.yaml"] != "x" {
		t.Fatalf("list: %+v %v", l, err)
	}
	if len(seen) != 1 || seen[0] != "GET /api/v1/namespaces/lustre/configmaps?labelSelector=app.kubernetes.io%2Finstance%3Dlfs1" {
		t.Fatalf("requests %q", seen)
	}
	p, err := NewPods(cfg, "lustre")
	if err != nil {
		t.Fatal(err)
	}
	u := p.ExecURL("drbd-a", "drbd", []string{"/usr/local/bin/drbd", "status"})
	want := srv.URL + "/api/v1/namespaces/lustre/pods/drbd-a/exec?command=%2Fusr%2Flocal%2Fbin%2Fdrbd&command=status&container=drbd&stderr=true&stdout=true"
	if u.String() != want {
		t.Fatalf("exec URL\n%s, want\n%s", u, want)
	}
}
