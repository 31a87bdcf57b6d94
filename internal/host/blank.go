package host

import (
	"context"
	"fmt"
	"strings"
)

// NotBlankError says a device carries a signature: the probe worked and
// found something. Nothing may be created on such a device.
type NotBlankError struct {
	Device   string
	Evidence string
}

func (e *NotBlankError) Error() string {
	return fmt.Sprintf("%s is not blank: %s", e.Device, e.Evidence)
}

// ProveBlank returns nil only when both probes succeeded and found nothing:
// `wipefs --no-act DEV` exited 0 with empty output, and `blkid -p DEV`
// either exited 2 with empty output (a blank whole disk; blkid also exits
// 2 for a missing device, but then it says so on stderr) or exited 0
// naming only the partition's place in its table (a blank partition:
// PART_ENTRY_* fields and nothing else, util-linux on real kernels). A
// signature gives a *NotBlankError: a filesystem, a pool, DRBD metadata or
// a partition table (a disk holding only an MBR answers PTUUID and PTTYPE,
// exit 0: it is not blank). Any other outcome (a probe that failed, timed
// out or printed something unexpected) is an error too, because an unknown
// answer is never proof of blankness.
func ProveBlank(ctx context.Context, r Runner, dev string) error {
	res, err := Run(ctx, r, "wipefs", "--no-act", dev)
	if err != nil {
		return fmt.Errorf("probing %s: %w", dev, err)
	}
	if strings.TrimSpace(res.Stdout) != "" {
		return &NotBlankError{Device: dev, Evidence: "wipefs: " + strings.TrimSpace(res.Stdout)}
	}
	res, err = Run(ctx, r, "blkid", "-p", dev)
	if err == nil && res.Stderr == "" && onlyPartitionEntry(dev, res.Stdout) {
		return nil
	}
	if err == nil || ExitedWith(err, 8, "") {
		// 0: something identified; 8: several things (ambivalent).
		return &NotBlankError{Device: dev, Evidence: "blkid: " + strings.TrimSpace(res.Stdout+res.Stderr)}
	}
	if ee, ok := AsExit(err); ok && ee.Result.ExitCode == 2 && ee.Result.Stdout == "" && ee.Result.Stderr == "" {
		return nil
	}
	return fmt.Errorf("probing %s: %w", dev, err)
}

// onlyPartitionEntry reports whether `blkid -p DEV` printed exactly one
// line, `DEV: NAME="VALUE" ...`, whose every field is a PART_ENTRY_* one:
// those describe where the partition sits in its table (scheme, number,
// offset, size, type code, the disk), not anything written on it. Anything
// else, or anything that does not parse, is not proof.
func onlyPartitionEntry(dev, stdout string) bool {
	line := strings.TrimSuffix(stdout, "\n")
	rest, found := strings.CutPrefix(line, dev+": ")
	if !found || strings.Contains(rest, "\n") {
		return false
	}
	fields, ok := parseTags(rest)
	if !ok || len(fields) == 0 {
		return false
	}
	for _, name := range fields {
		if !strings.HasPrefix(name, "PART_ENTRY_") {
			return false
		}
	}
	return true
}

// parseTags splits blkid's `NAME="VALUE" NAME="VALUE"` into the names. A
// value may hold blanks and backslash-escaped quotes and backslashes
// (blkid's safe quoting); ok is false on anything else.
func parseTags(s string) (names []string, ok bool) {
	for s != "" {
		name, rest, found := strings.Cut(s, `="`)
		if !found || name == "" || strings.ContainsAny(name, " \t\"\\") {
			return nil, false
		}
		end := -1
		for i := 0; i < len(rest); i++ {
			if rest[i] == '\\' {
				i++
				continue
			}
			if rest[i] == '"' {
				end = i
				break
			}
		}
		if end < 0 {
			return nil, false
		}
		names = append(names, name)
		s = rest[end+1:]
		if s != "" {
			if s[0] != ' ' {
				return nil, false
			}
			s = s[1:]
		}
	}
	return names, true
}
