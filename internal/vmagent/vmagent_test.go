package vmagent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/host"
)

// fakeGuest answers like a shell would: "echo" prints its arguments,
// "cat" copies stdin, "fail N" exits N with a message, "missing" cannot be
// started, "sleep" runs until its timeout.
var fakeGuest = host.RunnerFunc(func(ctx context.Context, c host.Cmd) (host.Result, error) {
	switch c.Name {
	case "echo":
		return host.Result{Stdout: strings.Join(c.Args, " ") + "\n"}, nil
	case "cat":
		return host.Result{Stdout: string(c.Stdin)}, nil
	case "fail":
		var code int
		fmt.Sscan(c.Args[0], &code)
		res := host.Result{Stderr: "failed on purpose\n", ExitCode: code}
		return res, &host.ExitError{Cmd: c, Result: res}
	case "sleep":
		<-ctx.Done()
		return host.Result{ExitCode: -1}, fmt.Errorf("%s: %w", c, ctx.Err())
	}
	return host.Result{}, fmt.Errorf("%s: executable file not found in $PATH", c.Name)
})

// pair connects a Client to Serve over an in-memory stream.
func pair(t *testing.T) (*Client, net.Conn) {
	t.Helper()
	hostEnd, guestEnd := net.Pipe()
	go Serve(context.Background(), guestEnd, guestEnd, fakeGuest, "boot-1", t.Logf)
	c := NewClient(hostEnd, nil)
	t.Cleanup(func() { c.Close(); guestEnd.Close() })
	return c, guestEnd
}

func TestRunCarriesArgvStdinAndExit(t *testing.T) {
	c, _ := pair(t)
	ctx := context.Background()
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if got := c.Boot(); got != "boot-1" {
		t.Errorf("boot id %q, want boot-1", got)
	}
	res, err := c.Run(ctx, host.Command("echo", "a b", "c"))
	if err != nil || res.Stdout != "a b c\n" {
		t.Errorf("echo: %q, %v", res.Stdout, err)
	}
	res, err = c.Run(ctx, host.Cmd{Name: "cat", Stdin: []byte("line\x00binary\n")})
	if err != nil || res.Stdout != "line\x00binary\n" {
		t.Errorf("cat: %q, %v", res.Stdout, err)
	}
	_, err = c.Run(ctx, host.Command("fail", "10"))
	if !host.ExitedWith(err, 10, "failed on purpose") {
		t.Errorf("fail 10: %v, want an ExitError with exit 10 and the message", err)
	}
	// A command that never ran must not look like an answer.
	_, err = c.Run(ctx, host.Command("missing"))
	if _, exited := host.AsExit(err); err == nil || exited {
		t.Errorf("missing command: %v, want a non-exit error", err)
	}
}

func TestConcurrentRequestsGetTheirOwnAnswers(t *testing.T) {
	c, _ := pair(t)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := fmt.Sprintf("req-%d", i)
			res, err := c.Run(context.Background(), host.Command("echo", want))
			if err != nil || res.Stdout != want+"\n" {
				errs <- fmt.Errorf("%s: got %q, %v", want, res.Stdout, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestDeadlineTravelsToTheGuest(t *testing.T) {
	c, _ := pair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := c.Run(ctx, host.Command("sleep"))
	if err == nil {
		t.Fatal("sleep returned without error")
	}
	if _, exited := host.AsExit(err); exited {
		t.Errorf("timed-out command reported as an exit: %v", err)
	}
}

func TestLostGuestFailsOutstandingRequests(t *testing.T) {
	c, guestEnd := pair(t)
	done := make(chan error, 1)
	go func() {
		_, err := c.Run(context.Background(), host.Command("sleep"))
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	guestEnd.Close() // the guest's qemu was killed
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("outstanding request: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("outstanding request still waiting after the stream closed")
	}
	if _, err := c.Run(context.Background(), host.Command("echo")); !errors.Is(err, ErrClosed) {
		t.Errorf("request after close: %v, want ErrClosed", err)
	}
}

func TestGarbageLinesAreSkipped(t *testing.T) {
	hostEnd, guestEnd := net.Pipe()
	go Serve(context.Background(), guestEnd, guestEnd, fakeGuest, "b", t.Logf)
	defer guestEnd.Close()
	// Half a line left from before the port opened, then a request.
	go fmt.Fprint(hostEnd, "{\"id\":7,\"ar\n{\"id\":8,\"argv\":[\"echo\",\"ok\"]}\n")
	buf := make([]byte, 4096)
	n, err := hostEnd.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(buf[:n]); !strings.Contains(got, `"id":8`) || !strings.Contains(got, `ok\n`) {
		t.Errorf("answer %q, want request 8's", got)
	}
	hostEnd.Close()
}

func TestGuestQuestionsReachTheHost(t *testing.T) {
	hostEnd, guestEnd := net.Pipe()
	srv := NewServer(guestEnd, fakeGuest, "b", t.Logf)
	go srv.Serve(context.Background(), guestEnd)
	c := NewClient(hostEnd, func(q string) (string, error) {
		if q == "fence-peer r0" {
			return "4", nil
		}
		return "", errors.New("no decision")
	})
	defer func() { c.Close(); guestEnd.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if a, err := srv.Ask(ctx, "fence-peer r0"); err != nil || a != "4" {
		t.Errorf("answer %q, %v; want 4", a, err)
	}
	// A question the host cannot decide gets no answer: the guest's wait
	// ends with an error, never with an invented answer.
	short, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	if a, err := srv.Ask(short, "unfence r0"); err == nil {
		t.Errorf("undecided question answered %q", a)
	}
	// Requests still work alongside questions.
	if res, err := c.Run(ctx, host.Command("echo", "x")); err != nil || res.Stdout != "x\n" {
		t.Errorf("echo after questions: %q, %v", res.Stdout, err)
	}
}
