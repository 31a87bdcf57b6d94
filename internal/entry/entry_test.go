package entry

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/podstate"
)

func lookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestFromEnv(t *testing.T) {
	e, err := FromEnv(lookup(map[string]string{"NODE_NAME": "s1", "KUBE_LUSTRE_TARGET": "mdt0", "KUBE_LUSTRE_LEASE_SECONDS": "15"}))
	if err != nil || e.Node != "s1" || e.Target != "mdt0" || e.LeaseSeconds != 15 || e.Topology != DefaultTopology {
		t.Fatalf("FromEnv = %+v, %v", e, err)
	}
	if _, err := FromEnv(lookup(map[string]string{"KUBE_LUSTRE_LEASE_SECONDS": "soon"})); err == nil {
		t.Fatal("a non-numeric lease must be refused")
	}
	if err := (Env{}).RequireNode(); err == nil || !strings.Contains(err.Error(), "downward API") {
		t.Fatalf("RequireNode = %v", err)
	}
}

// KUBE_LUSTRE_LOG_LEVEL (the chart's logLevel) sets the level of the
// binary's logger; unset is info, and a level the schema would refuse is
// refused here too, so a typo never silently hides or floods the logs.
func TestLogLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{
		"": slog.LevelInfo, "debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn,
		"error": slog.LevelError, "DEBUG": slog.LevelDebug, " warn ": slog.LevelWarn,
	} {
		env := map[string]string{}
		if in != "" {
			env["KUBE_LUSTRE_LOG_LEVEL"] = in
		}
		e, err := FromEnv(lookup(env))
		if err != nil || e.LogLevel != want {
			t.Errorf("KUBE_LUSTRE_LOG_LEVEL=%q: level %v, %v; want %v", in, e.LogLevel, err, want)
		}
	}
	for _, bad := range []string{"verbose", "warning", "-4", "info+2"} {
		if _, err := FromEnv(lookup(map[string]string{"KUBE_LUSTRE_LOG_LEVEL": bad})); err == nil ||
			!strings.Contains(err.Error(), "KUBE_LUSTRE_LOG_LEVEL") {
			t.Errorf("KUBE_LUSTRE_LOG_LEVEL=%q: err %v, want it refused by name", bad, err)
		}
	}
	// The logger drops what is below the level and keeps the rest.
	for level, want := range map[string][]string{
		"debug": {"d", "i", "w", "e"}, "info": {"i", "w", "e"}, "warn": {"w", "e"}, "error": {"e"},
	} {
		e, err := FromEnv(lookup(map[string]string{"KUBE_LUSTRE_LOG_LEVEL": level, "NODE_NAME": "s1"}))
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		log := Logger(&b, "x", e)
		log.Debug("d")
		log.Info("i")
		log.Warn("w")
		log.Error("e")
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
			for _, m := range []string{"d", "i", "w", "e"} {
				if strings.Contains(line, `"msg":"`+m+`"`) && strings.Contains(line, `"node":"s1"`) {
					got = append(got, m)
				}
			}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("level %s logged %v, want %v:\n%s", level, got, want, b.String())
		}
	}
	// Main refuses to start with a bad level, and says why.
	var out, errb bytes.Buffer
	run := map[string]Command{"run": func(context.Context, *Runtime, []string) error { return nil }}
	if code := Main("x", []string{"run"}, &out, &errb, lookup(map[string]string{"KUBE_LUSTRE_LOG_LEVEL": "loud"}), run); code != 2 ||
		!strings.Contains(errb.String(), "KUBE_LUSTRE_LOG_LEVEL") {
		t.Fatalf("bad level: exit %d, log %s", code, errb.String())
	}
}

func TestHealth(t *testing.T) {
	p := filepath.Join(t.TempDir(), "run", "status.json")
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	if err := Health(p, true, time.Minute, now); err == nil {
		t.Fatal("no status file must be unhealthy")
	}
	if err := WriteStatus(p, podstate.Starting, "waiting for DRBD", now); err != nil {
		t.Fatal(err)
	}
	if err := Health(p, true, time.Minute, now); err != nil {
		t.Fatalf("live while starting: %v", err)
	}
	if err := Health(p, false, time.Minute, now); err == nil || !strings.Contains(err.Error(), "waiting for DRBD") {
		t.Fatalf("readiness while starting = %v, want the reason", err)
	}
	if err := WriteStatus(p, podstate.Ready, "serving", now); err != nil {
		t.Fatal(err)
	}
	if err := Health(p, false, time.Minute, now.Add(30*time.Second)); err != nil {
		t.Fatalf("ready: %v", err)
	}
	if err := Health(p, true, time.Minute, now.Add(2*time.Minute)); err == nil || !strings.Contains(err.Error(), "stuck") {
		t.Fatalf("stale status = %v, want stuck", err)
	}
	if err := os.WriteFile(p, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Health(p, true, time.Minute, now); err == nil {
		t.Fatal("garbage status must be unhealthy")
	}
}

func TestMainDispatch(t *testing.T) {
	status := filepath.Join(t.TempDir(), "status.json")
	env := lookup(map[string]string{"KUBE_LUSTRE_STATUS": status})
	ran := ""
	cmds := func() map[string]Command {
		return map[string]Command{
			"run":  func(context.Context, *Runtime, []string) error { ran = "run"; return nil },
			"fail": func(context.Context, *Runtime, []string) error { return errors.New("boom") },
		}
	}
	var out, errb bytes.Buffer
	if code := Main("x", []string{"run"}, &out, &errb, env, cmds()); code != 0 || ran != "run" {
		t.Fatalf("run: exit %d ran %q", code, ran)
	}
	if code := Main("x", []string{"fail"}, &out, &errb, env, cmds()); code != 1 || !strings.Contains(errb.String(), `"err":"boom"`) {
		t.Fatalf("fail: exit %d, log %s", code, errb.String())
	}
	if code := Main("x", []string{"nope"}, &out, &errb, env, cmds()); code != 2 {
		t.Fatalf("unknown command: exit %d", code)
	}
	if code := Main("x", nil, &out, &errb, env, cmds()); code != 2 {
		t.Fatalf("no command: exit %d", code)
	}
	// health is built in and reads the status file.
	if code := Main("x", []string{"health"}, &out, &errb, env, cmds()); code != 1 {
		t.Fatalf("health without status: exit %d", code)
	}
	if err := WriteStatus(status, podstate.Ready, "", time.Now()); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := Main("x", []string{"health"}, &out, &errb, env, cmds()); code != 0 || out.String() != "ok\n" {
		t.Fatalf("health when ready: exit %d out %q", code, out.String())
	}
}

func TestLoadTopologyRefusesProblems(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("fsname: lfs1\ntargets: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadTopology(bad); err == nil || !strings.Contains(err.Error(), "no MGS") {
		t.Fatalf("LoadTopology = %v, want the problems listed", err)
	}
	if _, _, err := LoadTopology(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Fatal("missing topology must fail")
	}
	_, p, err := LoadTopology("../../examples/ha.yaml")
	if err != nil || len(p.Targets) != 3 {
		t.Fatalf("ha.yaml: %v", err)
	}
}
