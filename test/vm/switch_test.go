package vm

// No build tag: the switch is tested without qemu, in plain go test.

import (
	"errors"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// ethSwitch joins the network cards of more than two guests into one
// Ethernet segment, in the test process: a datagram socket pair (two
// guests) cannot carry a third. Each guest's qemu sends its frames to its
// own port socket here (the guest's peerSock); the switch passes each frame
// to the port that last sent from the destination MAC, or to every other
// port for broadcast, multicast and MACs not seen yet (send says when a
// frame is lost). Only unix sockets: nothing leaves the machine.
type ethSwitch struct {
	ports []*switchPort
	mu    sync.Mutex
	where map[[6]byte]*switchPort
}

type switchPort struct {
	conn  *net.UnixConn
	guest *net.UnixAddr // the guest's own socket (qemu's local.path)
}

// newSwitch opens a port for each named guest in dir and returns where
// each guest's card must send (its peerSock). A guest's own socket is
// dir/NAME-net.sock, as qemu binds it.
func newSwitch(t *testing.T, dir string, names ...string) map[string]string {
	t.Helper()
	sw := &ethSwitch{where: map[[6]byte]*switchPort{}}
	ports := map[string]string{}
	for _, name := range names {
		path := filepath.Join(dir, "switch-"+name+".sock")
		conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
		if err != nil {
			t.Fatal(err)
		}
		ports[name] = path
		p := &switchPort{conn: conn, guest: &net.UnixAddr{Name: filepath.Join(dir, name+"-net.sock"), Net: "unixgram"}}
		sw.ports = append(sw.ports, p)
	}
	var wg sync.WaitGroup
	for _, p := range sw.ports {
		wg.Add(1)
		go func() { defer wg.Done(); sw.serve(p) }()
	}
	t.Cleanup(func() {
		for _, p := range sw.ports {
			p.conn.Close()
		}
		wg.Wait()
	})
	return ports
}

// serve forwards the frames one guest sends until its port is closed.
func (sw *ethSwitch) serve(from *switchPort) {
	buf := make([]byte, 65536)
	for {
		n, _, err := from.conn.ReadFromUnix(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil || n < 14 {
			continue
		}
		frame := buf[:n]
		var dst, src [6]byte
		copy(dst[:], frame[0:6])
		copy(src[:], frame[6:12])
		sw.mu.Lock()
		sw.where[src] = from
		to := sw.where[dst]
		sw.mu.Unlock()
		if dst[0]&1 == 1 || to == nil {
			for _, p := range sw.ports {
				if p != from {
					p.send(frame)
				}
			}
		} else if to != from {
			to.send(frame)
		}
	}
}

// send passes a frame to the port's guest. A guest whose receive queue
// is full (a unix socket queues few datagrams) is waited for a moment, as
// qemu waits for its peer on a socket pair; a guest that is down or does
// not drain its queue loses the frame.
func (p *switchPort) send(frame []byte) {
	p.conn.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
	p.conn.WriteToUnix(frame, p.guest)
}

// Three fake guests on the switch: a broadcast reaches the two others, a
// frame to a MAC the switch has seen reaches only its port, and a guest
// that is down costs the others nothing.
func TestSwitch(t *testing.T) {
	dir := t.TempDir()
	names := []string{"vm1", "vm2", "vm3"}
	ports := newSwitch(t, dir, names...)
	guests := map[string]*net.UnixConn{}
	for _, n := range names {
		c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(dir, n+"-net.sock"), Net: "unixgram"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		guests[n] = c
	}
	mac := func(i byte) []byte { return []byte{0x52, 0x54, 0, 0x6b, 0x6c, i} }
	frame := func(dst, src []byte, payload string) []byte {
		return append(append(append(append([]byte(nil), dst...), src...), 0x08, 0x00), payload...)
	}
	send := func(from string, f []byte) {
		t.Helper()
		if _, err := guests[from].WriteToUnix(f, &net.UnixAddr{Name: ports[from], Net: "unixgram"}); err != nil {
			t.Fatal(err)
		}
	}
	recv := func(at string) string {
		t.Helper()
		buf := make([]byte, 2048)
		guests[at].SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, _, err := guests[at].ReadFromUnix(buf)
		if err != nil {
			return ""
		}
		return string(buf[14:n])
	}
	broadcast := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	send("vm1", frame(broadcast, mac(1), "arp from vm1"))
	for _, n := range []string{"vm2", "vm3"} {
		if got := recv(n); got != "arp from vm1" {
			t.Errorf("%s got %q, want the broadcast", n, got)
		}
	}
	if got := recv("vm1"); got != "" {
		t.Errorf("vm1 got its own frame back: %q", got)
	}
	send("vm2", frame(mac(1), mac(2), "reply to vm1"))
	if got := recv("vm1"); got != "reply to vm1" {
		t.Errorf("vm1 got %q, want the reply", got)
	}
	if got := recv("vm3"); got != "" {
		t.Errorf("vm3 got %q, a frame for vm1 (vm1's MAC was learnt)", got)
	}
	guests["vm3"].Close()
	start := time.Now()
	send("vm2", frame(broadcast, mac(2), "vm3 is down"))
	if got := recv("vm1"); got != "vm3 is down" || time.Since(start) > 250*time.Millisecond {
		t.Errorf("vm1 got %q after %s with vm3 down", got, time.Since(start))
	}
}
