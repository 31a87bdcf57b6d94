//go:build e2evm

// Package vm is the suite that runs kube-lustre's real host steps on real
// DRBD and ZFS kernels: two Debian 12 guests under qemu (make e2e-vm), and
// three with a user's Lustre when KUBE_LUSTRE_VM_LUSTRE names it. This
// file starts, kills and restarts the guests and connects to their agents.
package vm

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/vmagent"
)

// Disk is a data disk of a guest; the guest sees it as
// /dev/disk/by-id/virtio-SERIAL whatever order the kernel probes it in.
type Disk struct {
	Serial string
	File   string
	SizeMB int
	// Shared disks are attached to both guests (a shared-storage pair).
	Shared bool
}

// ByID is the guest's stable path of the disk.
func (d Disk) ByID() string { return "/dev/disk/by-id/virtio-" + d.Serial }

// Guest is one test VM. Its Runner (Run) survives a kill and a restart: a
// request while the guest is down fails, as a command to a dead node would.
type Guest struct {
	Name  string
	IP    string
	Index int
	// MemMB is the guest's memory; 0 is 1536.
	MemMB int

	dir, image, agentDisk string
	disks                 []Disk
	peerSock              string
	// fenceSock is the host-side fencesock server that decides for this
	// node (the DRBD agent's role on a real node); the guest agent passes
	// its fence handler's questions there.
	fenceSock string
	questions []string

	mu     sync.Mutex
	qemu   *exec.Cmd
	exited chan struct{}
	client *vmagent.Client

	// Log records every command the steps ran in this guest, across
	// reboots (case 2 reads it); Transcript keeps their full answers for
	// the comparison with hostsim.
	Log        *host.Log
	transcript *os.File
	tmu        sync.Mutex
}

// Run implements host.Runner through the guest's agent.
func (g *Guest) Run(ctx context.Context, c host.Cmd) (host.Result, error) {
	return g.Log.Run(ctx, c)
}

// direct runs through the agent without the log (the Log's Next).
func (g *Guest) direct(ctx context.Context, c host.Cmd) (host.Result, error) {
	g.mu.Lock()
	cl := g.client
	g.mu.Unlock()
	if cl == nil {
		return host.Result{ExitCode: -1}, fmt.Errorf("%s: guest %s is down", c, g.Name)
	}
	res, err := cl.Run(ctx, c)
	g.record(c, res, err)
	return res, err
}

// record appends one exchange to the transcript, one JSON object a line.
func (g *Guest) record(c host.Cmd, res host.Result, err error) {
	e := struct {
		Time   string   `json:"time"`
		Argv   []string `json:"argv"`
		Exit   int      `json:"exit"`
		Stdout string   `json:"stdout,omitempty"`
		Stderr string   `json:"stderr,omitempty"`
		Err    string   `json:"err,omitempty"`
	}{time.Now().Format("15:04:05.000"), c.Argv(), res.ExitCode, res.Stdout, res.Stderr, ""}
	if err != nil {
		e.Err = err.Error()
	}
	b, _ := json.Marshal(e)
	g.tmu.Lock()
	g.transcript.Write(append(b, '\n'))
	g.tmu.Unlock()
}

// sh runs a shell line in the guest: only for the suite's own setup and
// checks (writing test data, making filesystems), never for a step.
func (g *Guest) sh(ctx context.Context, t testing.TB, script string) string {
	t.Helper()
	res, err := g.direct(ctx, host.Command("sh", "-c", script))
	if err != nil {
		t.Fatalf("%s: %s: %v\nstdout: %s\nstderr: %s", g.Name, script, err, res.Stdout, res.Stderr)
	}
	return res.Stdout
}

func (g *Guest) qemuArgs(img string) []string {
	mem := g.MemMB
	if mem == 0 {
		mem = 1536
	}
	args := []string{
		"-name", g.Name,
		"-accel", "tcg,thread=multi", "-cpu", "max", "-smp", "1", "-m", strconv.Itoa(mem),
		"-nodefaults", "-display", "none", "-monitor", "none",
		"-serial", "file:" + filepath.Join(g.dir, g.Name+"-console.log"),
		"-kernel", filepath.Join(img, "vmlinuz"), "-initrd", filepath.Join(img, "initrd.img"),
		// The root disk by label: virtio disks probe in no fixed order.
		// The hostname names the node in the DRBD resource file.
		"-append", "root=LABEL=klvmroot rw console=ttyS0 net.ifnames=0 systemd.hostname=" + g.Name +
			" systemd.show_status=0 panic=-1 loglevel=4",
		"-drive", "file=" + filepath.Join(g.dir, g.Name+"-root.qcow2") + ",if=none,id=root,format=qcow2",
		"-device", "virtio-blk-pci,drive=root,serial=kl-root",
		"-drive", "file=" + g.agentDisk + ",if=none,id=agent,format=raw,readonly=on",
		"-device", "virtio-blk-pci,drive=agent,serial=kl-agent",
		// The private link: a datagram socket pair between the two
		// qemus (peerSock is the other's), or a port of the suite's own
		// Ethernet switch for three guests; nothing leaves the machine.
		"-netdev", fmt.Sprintf("dgram,id=n0,local.type=unix,local.path=%s,remote.type=unix,remote.path=%s",
			filepath.Join(g.dir, g.Name+"-net.sock"), g.peerSock),
		"-device", fmt.Sprintf("virtio-net-pci,netdev=n0,mac=52:54:00:6b:6c:%02x", g.Index),
		"-chardev", "socket,id=agent,path=" + filepath.Join(g.dir, g.Name+"-agent.sock") + ",server=on,wait=off",
		"-device", "virtio-serial-pci",
		"-device", "virtserialport,chardev=agent,name=org.kubelustre.agent",
	}
	for i, d := range g.disks {
		opts := ",cache=writeback"
		if d.Shared {
			// Both guests write it: no qemu lock, no qemu cache.
			opts = ",cache=none,file.locking=off"
		}
		args = append(args,
			"-drive", fmt.Sprintf("file=%s,if=none,id=d%d,format=raw%s", d.File, i, opts),
			"-device", fmt.Sprintf("virtio-blk-pci,drive=d%d,serial=%s", i, d.Serial))
	}
	return args
}

// Start boots the guest and waits for its agent; it returns the seconds
// from starting qemu to the agent's first answer. It runs in its own
// goroutine per guest, so it reports failures rather than end the test.
func (g *Guest) Start(ctx context.Context) (float64, error) {
	start := time.Now()
	// A killed qemu leaves its socket files; a new one cannot bind them.
	for _, s := range []string{"-net.sock", "-agent.sock"} {
		os.Remove(filepath.Join(g.dir, g.Name+s))
	}
	cmd := exec.Command("qemu-system-x86_64", g.qemuArgs(g.image)...)
	out, err := os.OpenFile(filepath.Join(g.dir, g.Name+"-qemu.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so a test killed midway does not leave
	// the guest to the shell's job control.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		return 0, fmt.Errorf("%s: starting qemu: %w", g.Name, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); out.Close(); close(exited) }()
	g.mu.Lock()
	g.qemu, g.exited = cmd, exited
	g.mu.Unlock()

	console := filepath.Join(g.dir, g.Name+"-console.log")
	sock := filepath.Join(g.dir, g.Name+"-agent.sock")
	var conn net.Conn
	for conn == nil {
		select {
		case <-exited:
			return 0, fmt.Errorf("%s: qemu exited: %s", g.Name, tail(filepath.Join(g.dir, g.Name+"-qemu.log"), 20))
		case <-ctx.Done():
			return 0, fmt.Errorf("%s: %w", g.Name, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
		conn, _ = net.Dial("unix", sock)
	}
	cl := vmagent.NewClient(conn, g.ask)
	// Pings until the agent answers: the ones sent before the guest
	// opened its port may be lost, so each waits only briefly.
	deadline := time.Now().Add(6 * time.Minute)
	for {
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := cl.Ping(pctx)
		cancel()
		if err == nil {
			break
		}
		select {
		case <-exited:
			cl.Close()
			return 0, fmt.Errorf("%s: qemu exited while booting:\n%s", g.Name, tail(console, 40))
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			cl.Close()
			return 0, fmt.Errorf("%s: agent did not answer within 6 min (%v); console:\n%s", g.Name, err, tail(console, 40))
		}
	}
	g.mu.Lock()
	g.client = cl
	g.mu.Unlock()
	return time.Since(start).Seconds(), nil
}

// ask forwards a question of the guest's fence handler to the node's
// decider and records it.
func (g *Guest) ask(q string) (string, error) {
	a, err := askSocket(g.fenceSock, q)
	g.mu.Lock()
	g.questions = append(g.questions, fmt.Sprintf("%s -> %q (%v)", q, a, err))
	g.mu.Unlock()
	return a, err
}

// Questions returns the fence questions the guest asked so far.
func (g *Guest) Questions() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.questions...)
}

// Kill is kill -9 of the guest's qemu: a node crash. A guest already
// killed stays down.
func (g *Guest) Kill(t testing.TB) {
	g.mu.Lock()
	cmd, exited, cl := g.qemu, g.exited, g.client
	g.qemu, g.client = nil, nil
	g.mu.Unlock()
	if cmd == nil {
		return
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Logf("%s: kill: %v", g.Name, err)
	}
	<-exited
	if cl != nil {
		cl.Close()
	}
}

// tail returns the last n lines of a file, for failure messages.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// repoRoot is two levels up from this package.
func repoRoot(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// run executes a host-side command, failing the test with its output.
func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// guestImage builds the guest image unless it is cached (ci/vm/image.sh
// prints its directory) and returns the directory and the build seconds
// (0 when the cache had it).
func guestImage(t testing.TB) (string, float64) {
	t.Helper()
	return imageStep(t, "image.sh")
}

// lustreImage is the guest image with the Lustre of dir installed
// (ci/vm/image-lustre.sh: a variant of base, cached by dir's content).
func lustreImage(t testing.TB, base, dir string) (string, float64) {
	t.Helper()
	return imageStep(t, "image-lustre.sh", base, dir)
}

// imageStep runs an image script of ci/vm, which prints the image's
// directory, and returns it and the build seconds (0 when cached).
func imageStep(t testing.TB, script string, args ...string) (string, float64) {
	t.Helper()
	start := time.Now()
	cmd := exec.Command(filepath.Join(repoRoot(t), "ci", "vm", script), args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ci/vm/%s: %v", script, err)
	}
	dir := strings.TrimSpace(string(out))
	secs := time.Since(start).Seconds()
	if secs < 5 {
		secs = 0
	}
	return dir, secs
}

// agentDisk builds the guest agent and the DRBD fence handler (static, so
// they run on the guest's libc or none) and puts them on a small ext4 image
// labelled KLAGENT.
func agentDisk(t testing.TB, dir string) string {
	t.Helper()
	src := filepath.Join(dir, "agent")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("building the guest's binaries needs go on PATH: %v", err)
	}
	// The DRBD image's binary is the fence handler DRBD runs on a node.
	for bin, pkg := range map[string]string{"kl-vmagent": "./ci/vm/agent", "drbd": "./images/drbd"} {
		cmd := exec.Command(goBin, "build", "-trimpath", "-o", filepath.Join(src, bin), pkg)
		cmd.Dir = repoRoot(t)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", pkg, err, out)
		}
	}
	img := filepath.Join(dir, "agent.img")
	run(t, "mkfs.ext4", "-q", "-F", "-L", "KLAGENT", "-d", src, img, "96M")
	return img
}
