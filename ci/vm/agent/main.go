// Command kl-vmagent is the VM suite's agent inside each test guest (make
// e2e-vm): it answers command requests from the host on a virtio-serial
// port, running them with the same local runner the node images use, and
// serves the DRBD fence socket by asking the host, where the suite keeps
// the targets' Leases. It is built static and handed to the guest on a
// small disk at every boot, so changing it never rebuilds the guest image.
package main

import (
	"bufio"
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/fencesock"
	"github.com/kube-lustre/kube-lustre/internal/host"
	"github.com/kube-lustre/kube-lustre/internal/vmagent"
)

// PortName is the virtserialport name the suite gives qemu.
const PortName = "org.kubelustre.agent"

func main() {
	log.SetFlags(0)
	log.SetPrefix("kl-vmagent: ")
	// Commands run with the PATH of a root shell, as they would on a node
	// through nsenter.
	_ = os.Setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	dev, err := findPort()
	if err != nil {
		log.Fatal(err)
	}
	// The port stays open for the agent's whole life: closing and
	// reopening it between requests lost requests.
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		log.Fatal(err)
	}
	boot := fmt.Sprintf("%d-%d", time.Now().UnixNano(), os.Getpid())
	srv := vmagent.NewServer(f, host.NewLocal(), boot, log.Printf)
	if err := serveFence(srv); err != nil {
		log.Printf("fence socket: %v (fence-peer handlers will fail)", err)
	}
	log.Printf("serving on %s (boot %s)", dev, boot)
	for {
		// A read returns end of file while no host is connected; wait
		// and read again on the same descriptor.
		if err := srv.Serve(context.Background(), f); err != nil {
			log.Printf("reading requests: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// serveFence listens where the DRBD agent's fence socket is on a node and
// passes each question line to the host, whose answer (an exit code) the
// handler exits with. No answer closes the connection unanswered, which
// the handler reports as a failed fence: DRBD then refuses to promote.
func serveFence(srv *vmagent.Server) error {
	path := fencesock.DefaultPath
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	_ = os.Remove(path) // a socket left by an earlier agent; Listen says if it is still in the way
	l, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				log.Printf("fence socket: %v", err)
				return
			}
			go func() {
				defer conn.Close()
				if err := conn.SetDeadline(time.Now().Add(fencesock.Timeout)); err != nil {
					return
				}
				line, err := bufio.NewReader(conn).ReadString('\n')
				if err != nil {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), fencesock.Timeout)
				defer cancel()
				answer, err := srv.Ask(ctx, strings.TrimSpace(line))
				if err != nil {
					log.Printf("fence question %q: %v", strings.TrimSpace(line), err)
					return
				}
				fmt.Fprintf(conn, "%s\n", answer)
			}()
		}
	}()
	return nil
}

// findPort returns the device of the named port; udev's
// /dev/virtio-ports/NAME link may not exist yet this early, sysfs does.
func findPort() (string, error) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		names, _ := filepath.Glob("/sys/class/virtio-ports/*/name")
		for _, n := range names {
			b, err := os.ReadFile(n)
			if err == nil && strings.TrimSpace(string(b)) == PortName {
				return "/dev/" + filepath.Base(filepath.Dir(n)), nil
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no virtio-serial port named %s", PortName)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
