package host

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Entry is one command as recorded by Log.
type Entry struct {
	Cmd      Cmd
	ExitCode int
	Duration time.Duration
	// Err is the error text, empty on success.
	Err string
}

// Log wraps a Runner and records every command, for tests and for the
// closing note a pod prints on exit (what it did to the host).
type Log struct {
	Next Runner

	mu      sync.Mutex
	entries []Entry
}

// NewLog wraps next.
func NewLog(next Runner) *Log { return &Log{Next: next} }

// Run implements Runner.
func (l *Log) Run(ctx context.Context, c Cmd) (Result, error) {
	start := time.Now()
	res, err := l.Next.Run(ctx, c)
	e := Entry{Cmd: c, ExitCode: res.ExitCode, Duration: time.Since(start)}
	if err != nil {
		e.Err = err.Error()
		if _, ok := AsExit(err); !ok && e.ExitCode == 0 {
			// Not run or interrupted: do not let it look like success.
			e.ExitCode = -1
		}
	}
	l.mu.Lock()
	l.entries = append(l.entries, e)
	l.mu.Unlock()
	return res, err
}

// Entries returns a copy of what has been recorded.
func (l *Log) Entries() []Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Entry(nil), l.entries...)
}

// Note renders the recorded commands one per line ("exit  duration
// command"), for the closing note a pod prints so that an operator sees
// exactly what it did to the host.
func (l *Log) Note() string {
	var b strings.Builder
	for _, e := range l.Entries() {
		fmt.Fprintf(&b, "exit %3d %8s  %s\n", e.ExitCode, e.Duration.Round(time.Millisecond), e.Cmd)
	}
	return b.String()
}

// Slog wraps a Runner and logs every command as a structured record.
type Slog struct {
	Next   Runner
	Logger *slog.Logger
}

// NewSlog wraps next; a nil logger means slog.Default().
func NewSlog(next Runner, logger *slog.Logger) *Slog {
	if logger == nil {
		logger = slog.Default()
	}
	return &Slog{Next: next, Logger: logger}
}

// Run implements Runner.
func (s *Slog) Run(ctx context.Context, c Cmd) (Result, error) {
	start := time.Now()
	res, err := s.Next.Run(ctx, c)
	attrs := []slog.Attr{
		slog.String("command", c.Name),
		slog.Any("args", c.Args),
		slog.Int("exit", res.ExitCode),
		slog.Duration("duration", time.Since(start)),
	}
	level := slog.LevelInfo
	if err != nil {
		// Failures carry stderr because that is where the tools say why.
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("stderr", res.Stderr), slog.String("error", err.Error()))
	}
	s.Logger.LogAttrs(ctx, level, "host command", attrs...)
	return res, err
}
