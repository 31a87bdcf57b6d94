package hostsim

import (
	"time"

	"github.com/kube-lustre/kube-lustre/internal/host"
)

// When says whether CrashAt crashes the host before the matched command
// runs or right after it took effect.
type When int

// Crash points.
const (
	Before When = iota
	After
)

func (w *World) addFault(f *fault) error {
	return w.update(func(st *state) error {
		if _, err := st.hostOf(f.Host); err != nil {
			return err
		}
		st.Faults = append(st.Faults, f)
		return nil
	})
}

// FailNext makes the next matching command on hostName return res instead
// of running (a probe that fails, a tool that crashes).
func (w *World) FailNext(hostName string, m Match, res host.Result) error {
	return w.addFault(&fault{Host: hostName, Match: m, Kind: faultFail, Result: res})
}

// FailAlways makes every matching command on hostName return res.
func (w *World) FailAlways(hostName string, m Match, res host.Result) error {
	return w.addFault(&fault{Host: hostName, Match: m, Kind: faultFail, Result: res, Always: true})
}

// Hang makes the next matching command block until its context is done.
func (w *World) Hang(hostName string, m Match) error {
	return w.addFault(&fault{Host: hostName, Match: m, Kind: faultHang})
}

// Delay makes the next matching command on hostName wait d (real time,
// not scaled), then run: a host that is slow to come up, such as an MGS
// whose first mount starts after the OSTs'. m.Skip is not honoured.
func (w *World) Delay(hostName string, m Match, d time.Duration) error {
	return w.addFault(&fault{Host: hostName, Match: m, Kind: faultDelay, Delay: int64(d)})
}

// CrashAt crashes hostName at the next matching command, before it runs or
// after it took effect; either way the caller gets ErrHostDown, as from a
// node that was lost.
func (w *World) CrashAt(hostName string, m Match, when When) error {
	kind := faultCrashBefore
	if when == After {
		kind = faultCrashAfter
	}
	return w.addFault(&fault{Host: hostName, Match: m, Kind: kind})
}

// ClearFaults removes every pending fault.
func (w *World) ClearFaults() error {
	return w.update(func(st *state) error { st.Faults = nil; return nil })
}
