// Package fencesock carries DRBD's fence decisions from the handler program
// to the node's DRBD agent. DRBD runs its handlers on the host, as root,
// with no Kubernetes credentials; the agent has them (RBAC get/update on
// the release's Leases). The handler asks over the unix socket of the
// release that owns its resource, in a hostPath directory both see, one
// line per question, and exits with the answer.
package fencesock

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Dir is the host directory of the fence sockets (the DRBD agents mount
// it at the same path).
const Dir = "/var/lib/kube-lustre/run"

// DefaultPath is the one node-wide socket of versions before per-release
// sockets: the handler falls back to it only for a resource whose
// release has no socket of its own (an agent not upgraded yet, or the VM
// suite's guest agent). No agent of this version listens there or
// removes it: it may be another release's.
const DefaultPath = Dir + "/fence.sock"

// Socket is the fence socket of the release whose filesystem is fsname, in
// dir. One per release: two releases' DRBD agents on one node each serve
// (and, when stale, replace) only their own, and a handler reaches the
// agent of the release that owns its resource.
func Socket(dir, fsname string) string {
	return filepath.Join(dir, "fence-"+fsname+".sock")
}

// FSNameOf is the filesystem a DRBD resource belongs to: kube-lustre names
// every resource <fsname>-<target> (topology.Plan), and a target's short
// name (mgs, mdt0, ost12) has no '-'. "" for a name of another form.
func FSNameOf(resource string) string {
	i := strings.LastIndexByte(resource, '-')
	if i <= 0 || i == len(resource)-1 {
		return ""
	}
	return resource[:i]
}

// SocketFor is the socket in dir a handler asks about resource: that of
// the release owning it (Socket), or the node-wide socket of earlier
// versions (DefaultPath, in dir) when the release has none there. Another
// release's agent answering there refuses a resource it does not own (a
// failed fence), so the fallback never decides for the wrong release.
func SocketFor(dir, resource string) string {
	if fsname := FSNameOf(resource); fsname != "" {
		p := Socket(dir, fsname)
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			return p
		}
	}
	return filepath.Join(dir, filepath.Base(DefaultPath))
}

// Operations a handler may ask for.
const (
	OpFencePeer = "fence-peer"
	OpUnfence   = "unfence"
)

// failed is the answer when no decision could be had: DRBD treats exit 1
// from fence-peer as a failed fence (failover.FenceFailed), so a Primary's
// I/O stays frozen and a Secondary is not promoted.
const failed = 1

// Decider makes the decisions (failover.Fencer in the DRBD agent). The
// package needs nothing else of it, so the simulated host can speak the
// same protocol without linking the Kubernetes client.
type Decider interface {
	FencePeer(ctx context.Context, resource string) int
	Unfence(ctx context.Context, resource string) int
}

// Timeout bounds one question: a Primary's I/O is frozen while fence-peer
// runs, so an answer that cannot come soon is a failed fence.
const Timeout = 10 * time.Second

// Serve answers questions on l with f until ctx ends. Each connection gets
// one answer: the exit code the handler is to exit with.
func Serve(ctx context.Context, l net.Listener, f Decider) error {
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	for {
		conn, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go answer(ctx, conn, f)
	}
}

func answer(ctx context.Context, conn net.Conn, f Decider) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(Timeout))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return
	}
	op, resource, _ := strings.Cut(strings.TrimSpace(line), " ")
	qctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	code := failed
	switch op {
	case OpFencePeer:
		code = f.FencePeer(qctx, resource)
	case OpUnfence:
		code = f.Unfence(qctx, resource)
	}
	fmt.Fprintf(conn, "%d\n", code)
}

// AskFor is Ask at the socket in dir that answers for resource
// (SocketFor): what the handler program does.
func AskFor(ctx context.Context, dir, op, resource string) (int, error) {
	return Ask(ctx, SocketFor(dir, resource), op, resource)
}

// Ask is the handler side: the exit code for op on resource, or
// 1 (a failed fence) with the reason when the agent cannot be asked, so that
// DRBD keeps I/O frozen rather than guess.
func Ask(ctx context.Context, path, op, resource string) (int, error) {
	if resource == "" || strings.ContainsAny(resource, " \n") {
		return failed, fmt.Errorf("bad resource name %q", resource)
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return failed, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := fmt.Fprintf(conn, "%s %s\n", op, resource); err != nil {
		return failed, err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return failed, fmt.Errorf("no answer from the DRBD agent: %w", err)
	}
	code, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || code < 0 || code > 255 {
		return failed, errors.Join(fmt.Errorf("bad answer %q", line), err)
	}
	return code, nil
}
