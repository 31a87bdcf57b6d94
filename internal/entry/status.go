package entry

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/podstate"
)

// Status is the content of the status file. The main loop rewrites it at
// least every heartbeat; `health` judges it.
type Status struct {
	State   podstate.State `json:"state"`
	Message string         `json:"message,omitempty"`
	Updated time.Time      `json:"updated"`
}

// WriteStatus replaces the status file atomically (rename), so a probe never
// reads half a file.
func WriteStatus(path string, state podstate.State, msg string, now time.Time) error {
	b, err := json.Marshal(Status{State: state, Message: msg, Updated: now.UTC()})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Health judges the status file for a probe. live: the main loop is alive
// (the file is fresh, whatever the state). Otherwise: ready and fresh.
func Health(path string, live bool, maxAge time.Duration, now time.Time) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("no status yet: %w", err)
	}
	var s Status
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("status file %s unreadable: %w", path, err)
	}
	if age := now.Sub(s.Updated); age > maxAge {
		return fmt.Errorf("status is %s old (state %s): the main loop is stuck", age.Round(time.Second), s.State)
	}
	if live || s.State == podstate.Ready {
		return nil
	}
	return fmt.Errorf("not ready: %s: %s", s.State, s.Message)
}
