package entry

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/podstate"
)

// Reporter keeps the status file fresh from its own goroutine, so a step
// that blocks for long (waiting hours for a DRBD initial sync) never makes
// the liveness probe kill the pod.
type Reporter struct {
	path  string
	log   *slog.Logger
	mu    sync.Mutex
	state podstate.State
	msg   string
}

// HeartbeatInterval is how often the status file is rewritten.
const HeartbeatInterval = 5 * time.Second

// NewReporter starts the heartbeat; it stops when ctx is done.
func NewReporter(ctx context.Context, path string, log *slog.Logger) *Reporter {
	r := &Reporter{path: path, log: log, state: podstate.Starting}
	r.write()
	go func() {
		t := time.NewTicker(HeartbeatInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				r.write()
			}
		}
	}()
	return r
}

// Set records a new state, logs the transition and writes it at once.
func (r *Reporter) Set(state podstate.State, msg string) {
	r.mu.Lock()
	changed := state != r.state || msg != r.msg
	r.state, r.msg = state, msg
	r.mu.Unlock()
	if changed {
		r.log.Info("status", "state", state, "message", msg)
	}
	r.write()
}

func (r *Reporter) write() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := WriteStatus(r.path, r.state, r.msg, time.Now()); err != nil {
		r.log.Error("cannot write status file", "path", r.path, "err", err.Error())
	}
}
