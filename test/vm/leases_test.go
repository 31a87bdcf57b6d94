//go:build e2evm

package vm

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// memLeases is the targets' Leases without an API server: the suite has
// none, and the fencing and Lease logic under test only needs Get, Create
// and an Update that refuses a stale resourceVersion, as the API does.
type memLeases struct {
	mu sync.Mutex
	m  map[string]*coordinationv1.Lease
	rv int
}

var leaseResource = schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}

func newMemLeases() *memLeases { return &memLeases{m: map[string]*coordinationv1.Lease{}} }

func (l *memLeases) Get(_ context.Context, name string, _ metav1.GetOptions) (*coordinationv1.Lease, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cur, ok := l.m[name]
	if !ok {
		return nil, apierrors.NewNotFound(leaseResource, name)
	}
	return cur.DeepCopy(), nil
}

func (l *memLeases) Create(_ context.Context, lease *coordinationv1.Lease, _ metav1.CreateOptions) (*coordinationv1.Lease, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.m[lease.Name]; ok {
		return nil, apierrors.NewAlreadyExists(leaseResource, lease.Name)
	}
	l.rv++
	next := lease.DeepCopy()
	next.ResourceVersion = strconv.Itoa(l.rv)
	l.m[lease.Name] = next
	return next.DeepCopy(), nil
}

func (l *memLeases) Update(_ context.Context, lease *coordinationv1.Lease, _ metav1.UpdateOptions) (*coordinationv1.Lease, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cur, ok := l.m[lease.Name]
	if !ok {
		return nil, apierrors.NewNotFound(leaseResource, lease.Name)
	}
	if lease.ResourceVersion != cur.ResourceVersion {
		return nil, apierrors.NewConflict(leaseResource, lease.Name, fmt.Errorf("resourceVersion %s is stale", lease.ResourceVersion))
	}
	l.rv++
	next := lease.DeepCopy()
	next.ResourceVersion = strconv.Itoa(l.rv)
	l.m[lease.Name] = next
	return next.DeepCopy(), nil
}

// askSocket passes one question line to a fencesock server on the host and
// returns its answer line.
func askSocket(path, question string) (string, error) {
	conn, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := fmt.Fprintf(conn, "%s\n", question); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(line), nil
}
