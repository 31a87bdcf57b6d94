package csi

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"time"

	"github.com/kube-lustre/kube-lustre/internal/host"
)

// The allocation file records every volume and the next project ID. It
// lives on the Lustre filesystem itself, under the root, so it is as
// durable and as shared as the volumes it describes, and a controller
// restarted on any client node finds it. It is only ever replaced whole
// (host.WriteFileAtomic), and read and written by one controller at a time
// (the CSI sidecars elect a leader; within the process, Driver.mu).
const (
	allocFile  = ".volumes.json"
	archiveDir = ".archive"
)

// allocation is the content of the allocation file.
type allocation struct {
	Version int `json:"version"`
	// Next is the lowest project ID never handed out. It only grows, so
	// no ID is used twice, not even one of a deleted volume (whose data a
	// backup, a retained copy or a slow client may still carry).
	Next uint32 `json:"next"`
	// Volumes are the live volumes by name.
	Volumes map[string]*volume `json:"volumes"`
	// Released are volumes deleted with onDelete retain or archive: their
	// data is still on the filesystem, accounted to their project ID.
	Released []released `json:"released,omitempty"`
}

type volume struct {
	ProjectID  uint32    `json:"projectID"`
	OnDelete   string    `json:"onDelete"`
	InodeLimit uint64    `json:"inodeLimit,omitempty"`
	Created    time.Time `json:"created"`
	// ArchivePath is chosen, and recorded, before an archiving delete
	// moves the directory, so that a retry moves it to the same place.
	ArchivePath string `json:"archivePath,omitempty"`
}

type released struct {
	Name      string    `json:"name"`
	ProjectID uint32    `json:"projectID"`
	OnDelete  string    `json:"onDelete"`
	Path      string    `json:"path"`
	At        time.Time `json:"at"`
}

func (d *Driver) allocPath() string { return path.Join(d.cfg.Root, allocFile) }

// clientAndLoad checks that the Lustre client is mounted (else the root
// would be a directory on the node's own disk) and reads the allocation
// file, with the lock held; what names the request in errors.
func (d *Driver) clientAndLoad(ctx context.Context, what string) (*allocation, error) {
	if _, err := d.client(ctx); err != nil {
		return nil, err
	}
	a, err := d.load(ctx)
	if err != nil {
		return nil, hostErr(what, err)
	}
	return a, nil
}

// load reads the allocation file. A missing one is an empty allocation
// starting at the first ID of the range, but only when cat said ENOENT,
// a definite answer: an unreachable filesystem says EIO, and any other
// failure stops the request rather than restart the IDs.
func (d *Driver) load(ctx context.Context) (*allocation, error) {
	b, err := host.ReadFile(ctx, d.run, d.allocPath())
	if host.ExitedWith(err, 1, "No such file or directory") {
		return &allocation{Version: 1, Next: d.cfg.FirstProjectID, Volumes: map[string]*volume{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the allocation file %s: %w", d.allocPath(), err)
	}
	a := &allocation{}
	if err := json.Unmarshal(b, a); err != nil {
		return nil, fmt.Errorf("the allocation file %s is corrupt (%v): restore it from a backup; never delete it, or project IDs may be reused", d.allocPath(), err)
	}
	if a.Version != 1 {
		return nil, fmt.Errorf("the allocation file %s has version %d; this driver knows version 1: upgrade the driver", d.allocPath(), a.Version)
	}
	if a.Volumes == nil {
		a.Volumes = map[string]*volume{}
	}
	a.Next = max(a.Next, d.cfg.FirstProjectID)
	return a, nil
}

func (d *Driver) save(ctx context.Context, a *allocation) error {
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return err
	}
	if err := host.WriteFileAtomic(ctx, d.run, d.allocPath(), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("saving the allocation file: %w", err)
	}
	return nil
}
