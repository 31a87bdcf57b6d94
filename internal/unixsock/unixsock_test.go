package unixsock

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A socket a killed process left is replaced; a regular file is left
// alone; the directory is made.
func TestListen(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "run", "x.sock")
	for range 2 {
		l, err := Listen(sock, 0o700)
		if err != nil {
			t.Fatalf("stale socket not replaced: %v", err)
		}
		if fi, err := os.Stat(filepath.Dir(sock)); err != nil || fi.Mode().Perm() != 0o700 {
			t.Fatalf("directory: %v %v", fi, err)
		}
		// Leave the socket file behind, as a killed process would.
		l.(*net.UnixListener).SetUnlinkOnClose(false)
		l.Close()
	}
	file := filepath.Join(dir, "not-a-socket")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(file, 0o700); err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Fatalf("listen over a regular file: %v", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "x" {
		t.Fatal("the file was touched")
	}
}
