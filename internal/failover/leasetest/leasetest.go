// Package leasetest is an in-memory Lease store with the API server's
// semantics that matter for fencing: every write bumps resourceVersion and
// an update carrying a stale one is refused with Conflict. Many holders
// (goroutines standing for pods on different nodes) share one Store.
package leasetest

import (
	"context"
	"errors"
	"strconv"
	"sync"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ErrDown is what a Store returns while it is Down: the API server is
// unreachable from everyone using it.
var ErrDown = errors.New("connection refused")

var leases = schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}

// Store holds Leases by name.
type Store struct {
	mu     sync.Mutex
	leases map[string]*coordinationv1.Lease
	rv     int
	down   bool
}

// New returns an empty store.
func New() *Store { return &Store{leases: map[string]*coordinationv1.Lease{}} }

// SetDown makes every call fail (or succeed again).
func (s *Store) SetDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

// Client returns a view of the store; cut, when it returns true, makes that
// view's calls fail (a node partitioned from the API server).
func (s *Store) Client(cut func() bool) *Client { return &Client{s: s, cut: cut} }

// Delete removes a Lease, as kubectl delete lease (or the deletion of its
// namespace) does.
func (s *Store) Delete(name string) {
	s.mu.Lock()
	delete(s.leases, name)
	s.mu.Unlock()
}

// Holder returns the current holder of a Lease ("" if none or absent).
func (s *Store) Holder(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.leases[name]; ok && l.Spec.HolderIdentity != nil {
		return *l.Spec.HolderIdentity
	}
	return ""
}

// Client is one caller's view of a Store.
type Client struct {
	s   *Store
	cut func() bool
}

func (c *Client) lock() error {
	c.s.mu.Lock()
	if c.s.down || (c.cut != nil && c.cut()) {
		c.s.mu.Unlock()
		return ErrDown
	}
	return nil
}

// Get returns a copy of the Lease.
func (c *Client) Get(_ context.Context, name string, _ metav1.GetOptions) (*coordinationv1.Lease, error) {
	if err := c.lock(); err != nil {
		return nil, err
	}
	defer c.s.mu.Unlock()
	l, ok := c.s.leases[name]
	if !ok {
		return nil, apierrors.NewNotFound(leases, name)
	}
	return l.DeepCopy(), nil
}

// Create stores a new Lease.
func (c *Client) Create(_ context.Context, l *coordinationv1.Lease, _ metav1.CreateOptions) (*coordinationv1.Lease, error) {
	if err := c.lock(); err != nil {
		return nil, err
	}
	defer c.s.mu.Unlock()
	if _, ok := c.s.leases[l.Name]; ok {
		return nil, apierrors.NewAlreadyExists(leases, l.Name)
	}
	return c.s.store(l), nil
}

// Update replaces a Lease if the caller saw its current version.
func (c *Client) Update(_ context.Context, l *coordinationv1.Lease, _ metav1.UpdateOptions) (*coordinationv1.Lease, error) {
	if err := c.lock(); err != nil {
		return nil, err
	}
	defer c.s.mu.Unlock()
	cur, ok := c.s.leases[l.Name]
	if !ok {
		return nil, apierrors.NewNotFound(leases, l.Name)
	}
	if cur.ResourceVersion != l.ResourceVersion {
		return nil, apierrors.NewConflict(leases, l.Name, errors.New("the object has been modified"))
	}
	return c.s.store(l), nil
}

func (s *Store) store(l *coordinationv1.Lease) *coordinationv1.Lease {
	s.rv++
	next := l.DeepCopy()
	next.ResourceVersion = strconv.Itoa(s.rv)
	s.leases[next.Name] = next
	return next.DeepCopy()
}
