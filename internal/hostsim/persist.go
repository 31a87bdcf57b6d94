// The world's persistence: one JSON state file shared by every process
// of a test cluster, read and written under a file lock, with a cache that
// skips decoding when nothing changed.

package hostsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockAndLoad takes the world lock and loads the state. The caller must
// call the returned release func exactly once; release(true) saves first.
func (w *World) lockAndLoad() (*state, func(save bool) error, error) {
	f, err := os.OpenFile(filepath.Join(w.dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close() // only a read-only use failed: nothing to flush
		return nil, nil, err
	}
	st := newState()
	data, err := os.ReadFile(filepath.Join(w.dir, "state.json"))
	release := func(save bool) error {
		// Closing the descriptor drops the flock.
		defer func() { _ = f.Close() }()
		if !save {
			// fn may have changed st and failed: never reuse it.
			return nil
		}
		if err := w.flushEvents(st); err != nil {
			return err
		}
		if st.unchanged && data != nil {
			return w.keep(st, data)
		}
		return w.save(st, data)
	}
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		_ = release(false) // saves nothing: cannot fail
		return nil, nil, err
	default:
		if c := w.takeCached(data); c != nil {
			st = c
			break
		}
		if err := json.Unmarshal(data, st); err != nil {
			_ = release(false)
			return nil, nil, fmt.Errorf("hostsim: corrupt state: %w", err)
		}
		st.fill()
	}
	st.dir = w.dir
	return st, release, nil
}

// keep is save for a command that changed nothing (a read-only command
// with no fault and nothing to settle): the file already holds st, so it
// is neither encoded nor written. With VerifyReadOnly (tests) it is
// encoded anyway and must equal what was loaded.
func (w *World) keep(st *state, loaded []byte) error {
	if VerifyReadOnly {
		data, err := json.Marshal(st)
		if err != nil {
			return err
		}
		if !bytes.Equal(data, loaded) {
			return fmt.Errorf("hostsim: a command taken for read-only changed the state")
		}
	}
	st.unchanged = false
	w.mu.Lock()
	w.cached, w.cachedRaw = st, loaded
	w.mu.Unlock()
	return nil
}

// takeCached returns the state this World last saved if data is what it
// wrote, and forgets it: the caller owns it now.
func (w *World) takeCached(data []byte) *state {
	w.mu.Lock()
	defer w.mu.Unlock()
	c, raw := w.cached, w.cachedRaw
	w.cached, w.cachedRaw = nil, nil
	if c == nil || !bytes.Equal(raw, data) {
		return nil
	}
	// Start as a decoded state would: no pending events, no read-only mark.
	c.events, c.unchanged = nil, false
	return c
}

// save writes the state through a temporary file and rename so that a
// reader in another process never sees half a file. A command that changed
// nothing leaves the file alone. The saved state is kept for the next load.
func (w *World) save(st *state, loaded []byte) error {
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if !bytes.Equal(data, loaded) {
		tmp := filepath.Join(w.dir, "state.json.tmp")
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(w.dir, "state.json")); err != nil {
			return err
		}
	}
	w.mu.Lock()
	w.cached, w.cachedRaw = st, data
	w.mu.Unlock()
	return nil
}

// update runs fn on the locked state and saves it when fn succeeds.
func (w *World) update(fn func(st *state) error) error {
	st, release, err := w.lockAndLoad()
	if err != nil {
		return err
	}
	if err := fn(st); err != nil {
		_ = release(false) // saves nothing: cannot fail
		return err
	}
	st.settle()
	return release(true)
}

// view runs fn on the locked state without saving.
func (w *World) view(fn func(st *state) error) error {
	st, release, err := w.lockAndLoad()
	if err != nil {
		return err
	}
	err = fn(st)
	_ = release(false)
	return err
}
