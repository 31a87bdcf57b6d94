package host

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLocalRunner(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name       string
		cmd        Cmd
		wantStdout string
		wantStderr string
		wantExit   int
		wantErr    bool
	}{
		{"true", Command("true"), "", "", 0, false},
		{"false", Command("false"), "", "", 1, true},
		{"output and exit code", Command("sh", "-c", "echo x; echo y >&2; exit 3"), "x\n", "y\n", 3, true},
		{"stdin", Cmd{Name: "cat", Stdin: []byte("hello\n")}, "hello\n", "", 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := NewLocal().Run(ctx, tc.cmd)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if res.Stdout != tc.wantStdout || res.Stderr != tc.wantStderr || res.ExitCode != tc.wantExit {
				t.Fatalf("got %+v, want stdout %q stderr %q exit %d", res, tc.wantStdout, tc.wantStderr, tc.wantExit)
			}
			if tc.wantErr {
				ee, ok := AsExit(err)
				if !ok || ee.Result.ExitCode != tc.wantExit {
					t.Fatalf("err %v is not an *ExitError with exit %d", err, tc.wantExit)
				}
			}
		})
	}
}

func TestLocalRunnerNotRunnable(t *testing.T) {
	ctx := context.Background()
	_, err := NewLocal().Run(ctx, Command("/nonexistent/kube-lustre-no-such-binary"))
	if err == nil {
		t.Fatal("missing binary reported success")
	}
	if _, ok := AsExit(err); ok {
		t.Fatalf("a command that never ran must not look like an exit: %v", err)
	}
	if _, err := NewLocal().Run(ctx, Cmd{}); err == nil {
		t.Fatal("empty command accepted")
	}
}

func TestLocalRunnerTimeout(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := NewLocal().Run(ctx, Command("sleep", "5"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatal("timeout did not stop the command")
	}
}

func TestLocalRunnerTimeoutWithGrandchild(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	// The shell's child keeps stdout open after the shell is killed.
	_, err := NewLocal().Run(ctx, Command("sh", "-c", "sleep 5; true"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatal("a grandchild holding the pipe kept the step waiting")
	}
}

func TestNsenterArgv(t *testing.T) {
	name, args := NewNsenter().argv(Command("zpool", "list"))
	got := name + " " + strings.Join(args, " ")
	if want := "nsenter -t 1 -m -u -i -n -p -- zpool list"; got != want {
		t.Fatalf("argv = %q, want %q", got, want)
	}
}

func TestExitedWith(t *testing.T) {
	err := &ExitError{Cmd: Command("x"), Result: Result{Stderr: "r0: No such resource\n", ExitCode: 10}}
	wrapped := errors.Join(errors.New("context"), err)
	cases := []struct {
		err  error
		code int
		want string
		ok   bool
	}{
		{wrapped, 10, "No such resource", true},
		{wrapped, 10, "", true},
		{wrapped, 11, "No such resource", false},
		{wrapped, 10, "other", false},
		{errors.New("plain"), 10, "", false},
		{nil, 0, "", false},
	}
	for i, tc := range cases {
		if got := ExitedWith(tc.err, tc.code, tc.want); got != tc.ok {
			t.Errorf("case %d: ExitedWith = %v, want %v", i, got, tc.ok)
		}
	}
	if msg := err.Error(); msg != "x: exit 10: r0: No such resource" {
		t.Errorf("Error() = %q", msg)
	}
}

func TestLogRecordsConcurrently(t *testing.T) {
	l := NewLog(NewLocal())
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = l.Run(context.Background(), Command("false"))
		}()
	}
	wg.Wait()
	entries := l.Entries()
	if len(entries) != 8 {
		t.Fatalf("recorded %d entries, want 8", len(entries))
	}
	for _, e := range entries {
		if e.ExitCode != 1 || e.Err == "" || e.Cmd.Name != "false" {
			t.Fatalf("bad entry %+v", e)
		}
	}
	_, _ = l.Run(context.Background(), Command("/nonexistent/binary"))
	if last := l.Entries()[8]; last.ExitCode != -1 {
		t.Fatalf("unrunnable command recorded with exit %d, want -1", last.ExitCode)
	}
	note := strings.Split(strings.TrimSpace(l.Note()), "\n")
	if len(note) != 9 || !strings.HasPrefix(note[0], "exit   1") || !strings.HasSuffix(note[8], "/nonexistent/binary") {
		t.Fatalf("note:\n%s", l.Note())
	}
}

func TestSlogJSON(t *testing.T) {
	var buf bytes.Buffer
	r := NewSlog(NewLocal(), slog.New(slog.NewJSONHandler(&buf, nil)))
	_, _ = r.Run(context.Background(), Command("sh", "-c", "echo boom >&2; exit 4"))
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("log is not JSON: %v: %s", err, buf.String())
	}
	if rec["command"] != "sh" || rec["exit"] != float64(4) || rec["stderr"] != "boom\n" || rec["level"] != "WARN" {
		t.Fatalf("unexpected record %v", rec)
	}
	if _, ok := rec["duration"]; !ok {
		t.Fatalf("no duration in %v", rec)
	}
}

func TestWriteFileAtomicAndRead(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := filepath.Join(dir, "etc", "drbd.d", "r0.res")
	l := NewLog(NewLocal())
	if err := WriteFileAtomic(ctx, l, p, []byte("resource r0 {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(ctx, l, p)
	if err != nil || string(got) != "resource r0 {}\n" {
		t.Fatalf("read back %q, %v", got, err)
	}
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", st.Mode(), err)
	}
	if _, err := os.Stat(p + ".tmp"); !os.IsNotExist(err) {
		t.Fatalf("temporary file left behind: %v", err)
	}
	for _, e := range l.Entries() {
		if e.Cmd.Name == "sh" {
			t.Fatal("WriteFileAtomic must not need a shell")
		}
	}
	if err := WriteFileAtomic(ctx, l, "relative", nil, 0o644); err == nil {
		t.Fatal("relative path accepted")
	}
	ok, err := Exists(ctx, l, p)
	if err != nil || !ok {
		t.Fatalf("Exists(existing) = %v, %v", ok, err)
	}
	ok, err = Exists(ctx, l, filepath.Join(dir, "absent"))
	if err != nil || ok {
		t.Fatalf("Exists(absent) = %v, %v", ok, err)
	}
}

func TestWriteFileAtomicStopsOnFailure(t *testing.T) {
	var ran []string
	r := RunnerFunc(func(ctx context.Context, c Cmd) (Result, error) {
		ran = append(ran, c.Name)
		if c.Name == "tee" {
			res := Result{Stderr: "tee: /x.tmp: No space left on device\n", ExitCode: 1}
			return res, &ExitError{Cmd: c, Result: res}
		}
		return Result{}, nil
	})
	if err := WriteFileAtomic(context.Background(), r, "/x", []byte("a"), 0o644); err == nil {
		t.Fatal("failed write reported success")
	}
	if strings.Join(ran, ",") != "mkdir,tee" {
		t.Fatalf("ran %v; the rename must not happen after a failed write", ran)
	}
}

func TestProveBlank(t *testing.T) {
	exit := func(code int, stdout, stderr string) func(Cmd) (Result, error) {
		return func(c Cmd) (Result, error) {
			res := Result{Stdout: stdout, Stderr: stderr, ExitCode: code}
			if code != 0 {
				return res, &ExitError{Cmd: c, Result: res}
			}
			return res, nil
		}
	}
	blankWipefs, blankBlkid := exit(0, "", ""), exit(2, "", "")
	cases := []struct {
		name          string
		wipefs, blkid func(Cmd) (Result, error)
		blank         bool
		notBlank      bool
	}{
		{"blank", blankWipefs, blankBlkid, true, false},
		{"wipefs lists a signature", exit(0, "DEVICE OFFSET TYPE\nsdb 0x438 ext4\n", ""), blankBlkid, false, true},
		{"blkid identifies", blankWipefs, exit(0, `/dev/sdb: TYPE="xfs"`, ""), false, true},
		{"blkid ambivalent", blankWipefs, exit(8, "", "ambivalent result"), false, true},
		{"wipefs failed", exit(1, "", "wipefs: error: /dev/sdb: probing initialization failed"), blankBlkid, false, false},
		{"blkid exit 2 for a missing device", blankWipefs, exit(2, "", "blkid: error: /dev/sdb: No such file or directory"), false, false},
		{"blkid other failure", blankWipefs, exit(4, "", ""), false, false},
		{"wipefs could not run", func(Cmd) (Result, error) { return Result{}, context.DeadlineExceeded }, blankBlkid, false, false},
		// util-linux on a real kernel (shared/reference/lustre-facts.md):
		// a blank partition answers its place in the table, exit 0.
		{"blank partition", blankWipefs, exit(0, `/dev/sdb: PART_ENTRY_SCHEME="dos" PART_ENTRY_UUID="4b4c4143-01" PART_ENTRY_TYPE="0x83" PART_ENTRY_NUMBER="1" PART_ENTRY_OFFSET="2048" PART_ENTRY_SIZE="2095104" PART_ENTRY_DISK="254:0"`+"\n", ""), true, false},
		{"blank GPT partition with a name", blankWipefs, exit(0, `/dev/sdb: PART_ENTRY_SCHEME="gpt" PART_ENTRY_NAME="data \"a\" b" PART_ENTRY_UUID="3f2a-1" PART_ENTRY_TYPE="0fc63daf-8483-4772-8e79-3d69d8477de4" PART_ENTRY_NUMBER="1" PART_ENTRY_OFFSET="2048" PART_ENTRY_SIZE="2095104" PART_ENTRY_DISK="8:16"`+"\n", ""), true, false},
		{"disk with only an MBR", blankWipefs, exit(0, `/dev/sdb: PTUUID="4b4c4144" PTTYPE="dos"`+"\n", ""), false, true},
		{"partition with ext4", blankWipefs, exit(0, `/dev/sdb: UUID="0b9a7e3c-6d7f-4a2b-9d38-1f0c2a3b4c5d" VERSION="1.0" BLOCK_SIZE="4096" TYPE="ext4" USAGE="filesystem" PART_ENTRY_SCHEME="dos" PART_ENTRY_UUID="4b4c4143-01" PART_ENTRY_TYPE="0x83" PART_ENTRY_NUMBER="1" PART_ENTRY_OFFSET="2048" PART_ENTRY_SIZE="2095104" PART_ENTRY_DISK="254:0"`+"\n", ""), false, true},
		{"partition with a pool", blankWipefs, exit(0, `/dev/sdb: LABEL="p0" UUID="123" UUID_SUB="456" BLOCK_SIZE="4096" TYPE="zfs_member" USAGE="filesystem" PART_ENTRY_SCHEME="gpt" PART_ENTRY_NUMBER="1"`+"\n", ""), false, true},
		{"partition with DRBD metadata", blankWipefs, exit(0, `/dev/sdb: UUID="a1b2" VERSION="v08" TYPE="drbd" USAGE="raid" PART_ENTRY_SCHEME="dos" PART_ENTRY_NUMBER="1"`+"\n", ""), false, true},
		{"extended partition holding a table", blankWipefs, exit(0, `/dev/sdb: PTTYPE="dos" PART_ENTRY_SCHEME="dos" PART_ENTRY_TYPE="0x5" PART_ENTRY_NUMBER="2"`+"\n", ""), false, true},
		{"a label alone", blankWipefs, exit(0, `/dev/sdb: LABEL="x" PART_ENTRY_SCHEME="dos"`+"\n", ""), false, true},
		{"another device's line", blankWipefs, exit(0, `/dev/sdc: PART_ENTRY_SCHEME="dos" PART_ENTRY_NUMBER="1"`+"\n", ""), false, true},
		{"two lines", blankWipefs, exit(0, `/dev/sdb: PART_ENTRY_SCHEME="dos"`+"\n"+`/dev/sdb: TYPE="xfs"`+"\n", ""), false, true},
		{"unparsable fields", blankWipefs, exit(0, `/dev/sdb: PART_ENTRY_SCHEME="dos" TYPE=xfs`+"\n", ""), false, true},
		{"exit 0 without output", blankWipefs, exit(0, "", ""), false, true},
		{"partition fields with an error", blankWipefs, exit(0, `/dev/sdb: PART_ENTRY_SCHEME="dos"`+"\n", "blkid: warning\n"), false, true},
		{"partition fields but a failed probe", blankWipefs, exit(4, `/dev/sdb: PART_ENTRY_SCHEME="dos"`+"\n", ""), false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := RunnerFunc(func(ctx context.Context, c Cmd) (Result, error) {
				if c.Name == "wipefs" {
					return tc.wipefs(c)
				}
				return tc.blkid(c)
			})
			err := ProveBlank(context.Background(), r, "/dev/sdb")
			var nb *NotBlankError
			if (err == nil) != tc.blank || errors.As(err, &nb) != tc.notBlank {
				t.Fatalf("ProveBlank = %v; want blank=%v notBlank=%v", err, tc.blank, tc.notBlank)
			}
		})
	}
}
