package csi

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A volume's name is its directory's name under the root and also its
// volume ID: the directory is found from the ID alone, on any node, with
// no lookup. So it must be one safe path component. The CO's names
// (pvc-<uid>) always are; a leading '.' is kept for the driver's own
// entries (.volumes.json, .archive).
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$`)

func validName(name string) bool { return nameRE.MatchString(name) }

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

// StorageClass parameters.
const (
	// ParamOnDelete is what DeleteVolume does with the directory: delete
	// (the default), retain (leave it and its quota) or archive (move it
	// to <root>/.archive/<name>-<time>).
	ParamOnDelete = "onDelete"
	// ParamInodeLimit is the project's inode hard limit (files and
	// directories); absent or 0 means none.
	ParamInodeLimit = "inodeLimit"
)

// OnDelete modes.
const (
	OnDeleteDelete  = "delete"
	OnDeleteRetain  = "retain"
	OnDeleteArchive = "archive"
)

// volumeParams are the validated StorageClass parameters.
type volumeParams struct {
	OnDelete   string
	InodeLimit uint64
}

// parseParams validates StorageClass parameters. Unknown keys are
// refused, so that a typo in a StorageClass is not silently ignored; the
// external-provisioner's own csi.storage.k8s.io/* keys are allowed.
func parseParams(p map[string]string) (volumeParams, error) {
	out := volumeParams{OnDelete: OnDeleteDelete}
	for k, v := range p {
		switch {
		case k == ParamOnDelete:
			if v != OnDeleteDelete && v != OnDeleteRetain && v != OnDeleteArchive {
				return out, invalid("parameter %s=%q: want %s, %s or %s", k, v, OnDeleteDelete, OnDeleteRetain, OnDeleteArchive)
			}
			out.OnDelete = v
		case k == ParamInodeLimit:
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return out, invalid("parameter %s=%q: want a whole number of inodes (0: no limit)", k, v)
			}
			out.InodeLimit = n
		case strings.HasPrefix(k, "csi.storage.k8s.io/"):
		default:
			return out, invalid("unknown parameter %q: this driver takes %s and %s; fix the StorageClass", k, ParamOnDelete, ParamInodeLimit)
		}
	}
	return out, nil
}

// checkCapability says why a volume capability cannot be served, "" if it
// can: every access mode works on a shared filesystem, but only as a
// mounted directory, with no mount options of its own (the client mount's
// options apply to every volume).
func checkCapability(c *csi.VolumeCapability) string {
	switch {
	case c == nil:
		return "a volume capability is empty"
	case c.GetBlock() != nil:
		return "block access is not supported: volumes are Lustre directories; use volumeMode: Filesystem"
	case c.GetMount() == nil:
		return "the volume capability has no access type; want mount"
	case c.GetAccessMode() == nil || c.GetAccessMode().GetMode() == csi.VolumeCapability_AccessMode_UNKNOWN:
		return "the volume capability has no access mode"
	}
	m := c.GetMount()
	if t := m.GetFsType(); t != "" && t != "lustre" {
		return fmt.Sprintf("fsType %q is not supported: volumes are Lustre directories; leave fsType empty", t)
	}
	if len(m.GetMountFlags()) > 0 {
		return fmt.Sprintf("mount options %v are not supported: volumes are bind mounts of the node's Lustre client mount, whose options (clients.mountOptions) apply to all of them", m.GetMountFlags())
	}
	return ""
}

func checkCapabilities(cs []*csi.VolumeCapability) error {
	if len(cs) == 0 {
		return invalid("volume capabilities are missing")
	}
	for _, c := range cs {
		if why := checkCapability(c); why != "" {
			return invalid("%s", why)
		}
	}
	return nil
}

// readOnlyMode reports whether an access mode allows no writer at all.
func readOnlyMode(c *csi.VolumeCapability) bool {
	switch c.GetAccessMode().GetMode() {
	case csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY, csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY:
		return true
	}
	return false
}

const (
	kib = int64(1) << 10
	mib = int64(1) << 20
	// MinCapacity is the smallest volume: Lustre hands out quota in
	// units of at least 1 MiB (qunit), and lfs setquota warns below it.
	MinCapacity = mib
)

// capacityFor picks a volume size in the requested range: required_bytes
// rounded up to KiB (the quota's unit), at least MinCapacity, def when
// the range is empty. It fails with OutOfRange when no size fits.
func capacityFor(r *csi.CapacityRange, def int64) (int64, error) {
	req, lim := r.GetRequiredBytes(), r.GetLimitBytes()
	if req < 0 || lim < 0 {
		return 0, status.Errorf(codes.OutOfRange, "capacity range %d-%d: bytes must not be negative", req, lim)
	}
	if lim != 0 && req > lim {
		return 0, status.Errorf(codes.OutOfRange, "capacity range: required %d bytes is more than the limit %d", req, lim)
	}
	c := req
	if c == 0 {
		c = def
		if lim != 0 && lim < c {
			c = lim
		}
	}
	c = max((c+kib-1)/kib*kib, MinCapacity)
	if lim != 0 && c > lim {
		return 0, status.Errorf(codes.OutOfRange, "capacity range %d-%d bytes: volumes are whole KiB and at least %d bytes; raise the limit", req, lim, MinCapacity)
	}
	return c, nil
}

// fits reports whether an existing volume's capacity is in the range.
func fits(capacity int64, r *csi.CapacityRange) bool {
	return capacity >= r.GetRequiredBytes() && (r.GetLimitBytes() == 0 || capacity <= r.GetLimitBytes())
}

// checkTarget validates a node path from the CO.
func checkTarget(field, p string) error {
	if p == "" {
		return invalid("%s is missing", field)
	}
	if !path.IsAbs(p) || path.Clean(p) != p || p == "/" {
		return invalid("%s %q must be a clean absolute path below /", field, p)
	}
	return nil
}
