package fencesock

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"

	"github.com/kube-lustre/kube-lustre/internal/unixsock"
)

// Listen opens the fence socket at path, replacing one a previous agent
// left there (unixsock.Listen), readable by root only: the answers move
// Lease marks. Only path is ever removed: the sockets of other releases,
// and the node-wide one of earlier versions, may have live agents behind
// them.
func Listen(path string) (net.Listener, error) {
	l, err := unixsock.Listen(path, 0o700)
	if err != nil {
		return nil, fmt.Errorf("fence socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// Start serves d, the decider of release fsname, on that release's socket
// in dir (Socket) until ctx ends, and returns the socket's path. Its own
// socket, so that the agent of another release on the node keeps its own;
// each of resources, the DRBD resources d answers for, must be named
// <fsname>-<target>, which is how the handler finds the socket
// (SocketFor). Should serving stop early, log says so: every fence of the
// release on this node fails from then on (I/O stays frozen, which loses
// nothing) until the agent restarts.
func Start(ctx context.Context, dir, fsname string, resources []string, d Decider, log *slog.Logger) (string, error) {
	for _, res := range resources {
		if got := FSNameOf(res); got != fsname {
			return "", fmt.Errorf("DRBD resource %s is not named %s-<target>: its fence handler would not find this release's socket", res, fsname)
		}
	}
	path := Socket(dir, fsname)
	l, err := Listen(path)
	if err != nil {
		return "", err
	}
	go func() {
		if err := Serve(ctx, l, d); err != nil {
			log.Error("fence socket stopped: DRBD fences on this node now fail (I/O stays frozen) until the agent restarts", "socket", path, "err", err.Error())
		}
	}()
	return path, nil
}
