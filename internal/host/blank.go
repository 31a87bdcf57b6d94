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
// exited 2 with empty output (blkid also exits 2 for a missing device, but
// then it says so on stderr). A signature gives a *NotBlankError; any other
// outcome (a probe that failed, timed out or printed something unexpected)
// is an error too, because an unknown answer is never proof of blankness.
func ProveBlank(ctx context.Context, r Runner, dev string) error {
	res, err := Run(ctx, r, "wipefs", "--no-act", dev)
	if err != nil {
		return fmt.Errorf("probing %s: %w", dev, err)
	}
	if strings.TrimSpace(res.Stdout) != "" {
		return &NotBlankError{Device: dev, Evidence: "wipefs: " + strings.TrimSpace(res.Stdout)}
	}
	res, err = Run(ctx, r, "blkid", "-p", dev)
	if err == nil || ExitedWith(err, 8, "") {
		// 0: something identified; 8: several things (ambivalent).
		return &NotBlankError{Device: dev, Evidence: "blkid: " + strings.TrimSpace(res.Stdout+res.Stderr)}
	}
	if ee, ok := AsExit(err); ok && ee.Result.ExitCode == 2 && ee.Result.Stdout == "" && ee.Result.Stderr == "" {
		return nil
	}
	return fmt.Errorf("probing %s: %w", dev, err)
}
