// Package vmagent carries host.Cmd requests to a test guest and its answers
// back, over one byte stream (a qemu virtio-serial port): Serve runs in the
// guest, Client is the host.Runner the VM suite (make e2e-vm) hands to the
// real DRBD, ZFS and host steps. Each request carries an id and the answer
// names it, because the stream stays open for the whole boot (reopening a
// virtio-serial port raced and lost requests) and answers may arrive out of
// order when requests overlap.
package vmagent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/host"
)

// Request is one line host to guest. An empty Argv is a ping: the guest
// answers it without running anything, so the host can tell when the agent
// is up.
type Request struct {
	ID    uint64   `json:"id"`
	Argv  []string `json:"argv,omitempty"`
	Stdin []byte   `json:"stdin,omitempty"`
	// TimeoutMS bounds the command in the guest, so a command abandoned by
	// the host (its context ended) does not run on forever.
	TimeoutMS int64 `json:"timeoutMs,omitempty"`
	// AnswerTo and Answer carry the host's answer to the guest's question
	// AnswerTo (see Response.Ask); such a request runs nothing.
	AnswerTo uint64 `json:"answerTo,omitempty"`
	Answer   string `json:"answer,omitempty"`
}

// Response is one line guest to host.
type Response struct {
	ID     uint64 `json:"id"`
	Stdout string `json:"stdout,omitempty"`
	Stderr string `json:"stderr,omitempty"`
	Exit   int    `json:"exit"`
	// Err is set when the command did not run to an exit status (not
	// found, killed by its timeout): the host reports it as an error that
	// is not an *host.ExitError, so no step mistakes it for an answer.
	Err string `json:"err,omitempty"`
	// Boot identifies the agent process: a change tells the host that
	// the guest rebooted between two requests.
	Boot string `json:"boot,omitempty"`
	// Ask, with Question, is a question from the guest to the host (ID is
	// then 0): DRBD's fence-peer handler in the guest asks the fencing
	// decision that a node's DRBD agent would take on the target's Lease,
	// which the suite keeps on the host.
	Ask      uint64 `json:"ask,omitempty"`
	Question string `json:"question,omitempty"`
}

// maxLine bounds one protocol line (outputs of the tools are small; a
// larger one means a broken stream).
const maxLine = 64 << 20

// Server is the guest side: it answers the host's requests and forwards
// the guest's questions to the host.
type Server struct {
	run  host.Runner
	boot string
	logf func(string, ...any)

	wmu sync.Mutex
	enc *json.Encoder

	amu  sync.Mutex
	next uint64
	asks map[uint64]chan string
}

// NewServer writes its answers and questions to w, running commands
// through run (host.NewLocal() in the guest).
func NewServer(w io.Writer, run host.Runner, boot string, logf func(string, ...any)) *Server {
	return &Server{run: run, boot: boot, logf: logf, enc: json.NewEncoder(w), asks: map[uint64]chan string{}}
}

func (s *Server) write(resp Response) {
	resp.Boot = s.boot
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.enc.Encode(resp); err != nil {
		s.logf("vmagent: writing to the host: %v", err)
	}
}

// Serve answers requests read from r until r ends, each command in its own
// goroutine. A line that does not decode is skipped: bytes the host sent
// before the port was open may arrive cut, and the host resends its pings.
func (s *Server) Serve(ctx context.Context, r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var wg sync.WaitGroup
	defer wg.Wait()
	for sc.Scan() {
		var req Request
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			s.logf("vmagent: skipping an undecodable line (%d bytes): %v", len(sc.Bytes()), err)
			continue
		}
		switch {
		case req.AnswerTo != 0:
			s.amu.Lock()
			ch := s.asks[req.AnswerTo]
			delete(s.asks, req.AnswerTo)
			s.amu.Unlock()
			if ch != nil {
				ch <- req.Answer
			}
		case len(req.Argv) == 0:
			s.write(Response{ID: req.ID})
		default:
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.write(execute(ctx, s.run, req))
			}()
		}
	}
	return sc.Err()
}

// Ask sends question to the host and waits for its answer until ctx ends.
// No answer (no host connected, host gone) is an error, never an answer.
func (s *Server) Ask(ctx context.Context, question string) (string, error) {
	s.amu.Lock()
	s.next++
	id := s.next
	ch := make(chan string, 1)
	s.asks[id] = ch
	s.amu.Unlock()
	defer func() {
		s.amu.Lock()
		delete(s.asks, id)
		s.amu.Unlock()
	}()
	s.write(Response{Ask: id, Question: question})
	select {
	case a := <-ch:
		return a, nil
	case <-ctx.Done():
		return "", fmt.Errorf("vmagent: no answer from the host to %q: %w", question, ctx.Err())
	}
}

// Serve is NewServer(w, ...).Serve(ctx, r), for a guest that asks nothing.
func Serve(ctx context.Context, r io.Reader, w io.Writer, run host.Runner, boot string, logf func(string, ...any)) error {
	return NewServer(w, run, boot, logf).Serve(ctx, r)
}

func execute(ctx context.Context, run host.Runner, req Request) Response {
	if req.TimeoutMS > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(req.TimeoutMS)*time.Millisecond)
		defer cancel()
	}
	c := host.Cmd{Name: req.Argv[0], Args: req.Argv[1:], Stdin: req.Stdin}
	res, err := run.Run(ctx, c)
	resp := Response{ID: req.ID, Stdout: res.Stdout, Stderr: res.Stderr, Exit: res.ExitCode}
	if err != nil {
		if _, exited := host.AsExit(err); !exited {
			resp.Err = err.Error()
		}
	}
	return resp
}

// ErrClosed is returned for requests outstanding when the stream ended
// (the guest crashed or was killed): their outcome is unknown.
var ErrClosed = errors.New("vmagent: connection to the guest closed")

// Client is a host.Runner that runs each command in the guest at the other
// end of conn. It is safe for concurrent use.
type Client struct {
	conn io.ReadWriteCloser
	// OnAsk answers the guest's questions; without it they go unanswered
	// (the guest's side times out, which DRBD's handler reads as a failed
	// fence).
	onAsk func(question string) (string, error)

	wmu sync.Mutex
	enc *json.Encoder

	mu      sync.Mutex
	next    uint64
	pending map[uint64]chan Response
	closed  error
	boot    string

	done chan struct{}
}

// NewClient starts reading answers from conn; onAsk (may be nil) answers
// the guest's questions.
func NewClient(conn io.ReadWriteCloser, onAsk func(question string) (string, error)) *Client {
	c := &Client{conn: conn, onAsk: onAsk, enc: json.NewEncoder(conn), pending: map[uint64]chan Response{}, done: make(chan struct{})}
	go c.read()
	return c
}

func (c *Client) read() {
	defer close(c.done)
	sc := bufio.NewScanner(c.conn)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	for sc.Scan() {
		var resp Response
		if err := json.Unmarshal(sc.Bytes(), &resp); err != nil {
			// Console noise or a line cut by a reboot: nobody waits
			// for it, so it is dropped; the waiter keeps waiting.
			continue
		}
		if resp.Ask != 0 {
			go c.answer(resp.Ask, resp.Question)
			continue
		}
		c.mu.Lock()
		if resp.Boot != "" {
			c.boot = resp.Boot
		}
		ch := c.pending[resp.ID]
		delete(c.pending, resp.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- resp
		}
	}
	err := sc.Err()
	if err == nil {
		err = io.EOF
	}
	c.mu.Lock()
	c.closed = fmt.Errorf("%w: %v", ErrClosed, err)
	for id, ch := range c.pending {
		close(ch)
		delete(c.pending, id)
	}
	c.mu.Unlock()
}

// answer sends onAsk's answer to question id. A failed onAsk sends
// nothing: the guest's wait then ends unanswered, as it would with no host.
func (c *Client) answer(id uint64, question string) {
	if c.onAsk == nil {
		return
	}
	a, err := c.onAsk(question)
	if err != nil {
		return
	}
	c.wmu.Lock()
	// A failed write is a broken connection: the asker's wait ends with it.
	_ = c.enc.Encode(Request{AnswerTo: id, Answer: a})
	c.wmu.Unlock()
}

// Boot returns the boot id of the agent that answered last.
func (c *Client) Boot() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.boot
}

// Close closes the stream; outstanding requests fail with ErrClosed.
func (c *Client) Close() error {
	err := c.conn.Close()
	<-c.done
	return err
}

// Done is closed when the stream has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

func (c *Client) send(ctx context.Context, req Request) (Response, error) {
	c.mu.Lock()
	if c.closed != nil {
		err := c.closed
		c.mu.Unlock()
		return Response{}, err
	}
	c.next++
	req.ID = c.next
	ch := make(chan Response, 1)
	c.pending[req.ID] = ch
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		delete(c.pending, req.ID)
		c.mu.Unlock()
	}

	c.wmu.Lock()
	err := c.enc.Encode(req)
	c.wmu.Unlock()
	if err != nil {
		forget()
		return Response{}, fmt.Errorf("vmagent: sending request: %w", err)
	}
	select {
	case resp, ok := <-ch:
		if !ok {
			c.mu.Lock()
			err := c.closed
			c.mu.Unlock()
			return Response{}, err
		}
		return resp, nil
	case <-ctx.Done():
		forget()
		return Response{}, ctx.Err()
	}
}

// Ping waits for the agent's answer to an empty request.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.send(ctx, Request{})
	return err
}

// Run implements host.Runner with the contract of host.ExecRunner: an exit
// status other than 0 is an *host.ExitError; a command that did not run to
// an exit status (not found, timed out, connection lost) is another error.
func (c *Client) Run(ctx context.Context, cmd host.Cmd) (host.Result, error) {
	if cmd.Name == "" {
		return host.Result{}, errors.New("host: empty command name")
	}
	if err := ctx.Err(); err != nil {
		return host.Result{}, fmt.Errorf("%s: not started: %w", cmd, err)
	}
	req := Request{Argv: cmd.Argv(), Stdin: cmd.Stdin}
	if dl, ok := ctx.Deadline(); ok {
		req.TimeoutMS = max(time.Until(dl).Milliseconds(), 1)
	}
	resp, err := c.send(ctx, req)
	if err != nil {
		return host.Result{ExitCode: -1}, fmt.Errorf("%s: %w", cmd, err)
	}
	res := host.Result{Stdout: resp.Stdout, Stderr: resp.Stderr, ExitCode: resp.Exit}
	switch {
	case resp.Err != "":
		return res, fmt.Errorf("%s: in the guest: %s", cmd, resp.Err)
	case resp.Exit != 0:
		return res, &host.ExitError{Cmd: cmd, Result: res}
	}
	return res, nil
}
