// Package unixsock opens the unix sockets kube-lustre serves on: the CSI
// endpoint and the DRBD fence sockets.
package unixsock

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
)

// Listen listens on a unix socket at path. A socket a previous process
// left there is removed first: a process killed before it could unlink
// its socket (SIGKILL, a node crash) would otherwise keep its successor
// from ever starting. Anything else at path is an error and is never
// removed: it is not ours. Missing parent directories are made with
// dirPerm.
func Listen(path string, dirPerm fs.FileMode) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket: remove it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing the stale socket %s: %w", path, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), dirPerm); err != nil {
		return nil, err
	}
	return net.Listen("unix", path)
}
