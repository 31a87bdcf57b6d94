package host

import (
	"context"
	"fmt"
	"os"
	"path"
	"strings"
)

// WriteFileAtomic writes data to p on the host using only commands, so it
// works through nsenter where the pod's own filesystem is not the host's.
// The content goes to p.tmp first and is renamed over p, so a reader (or a
// crash) sees either the old file or the new one, never half of it.
func WriteFileAtomic(ctx context.Context, r Runner, p string, data []byte, mode os.FileMode) error {
	if !path.IsAbs(p) || strings.HasSuffix(p, "/") {
		return fmt.Errorf("write %q: need an absolute file path", p)
	}
	tmp := p + ".tmp"
	steps := []Cmd{
		Command("mkdir", "-p", path.Dir(p)),
		{Name: "tee", Args: []string{tmp}, Stdin: append([]byte(nil), data...)},
		Command("chmod", fmt.Sprintf("%04o", mode.Perm()), tmp),
		// sync before the rename so that after a power loss the new name
		// never points at an empty file.
		Command("sync"),
		Command("mv", "-f", tmp, p),
	}
	for _, c := range steps {
		if _, err := r.Run(ctx, c); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	return nil
}

// ReadFile returns the content of p on the host. A missing file is an error
// like any other; use Exists to ask whether it is there.
func ReadFile(ctx context.Context, r Runner, p string) ([]byte, error) {
	res, err := Run(ctx, r, "cat", p)
	if err != nil {
		return nil, err
	}
	return []byte(res.Stdout), nil
}

// Exists reports whether p exists on the host. `test -e` exits 1 for
// "absent"; any other failure is returned as an error, never as "absent".
func Exists(ctx context.Context, r Runner, p string) (bool, error) {
	_, err := Run(ctx, r, "test", "-e", p)
	if err == nil {
		return true, nil
	}
	if ee, ok := AsExit(err); ok && ee.Result.ExitCode == 1 && ee.Result.Stderr == "" {
		return false, nil
	}
	return false, err
}
