package labeler

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// ErrUninstallRefused marks CheckUninstall's refusal: deleting the claims
// or opting in changes it, a retry does not.
var ErrUninstallRefused = errors.New("refusing to uninstall")

// CheckUninstall refuses (ErrUninstallRefused) while volumes of the
// release's CSI driver exist: uninstalling would take the filesystem, its
// clients and the driver away from under the pods that mount them, and
// leave the volumes with no driver to delete them.
// rollback is the command that lists the release as deployed again after
// the refusal (Helm records it as uninstalling when the hook starts).
func CheckUninstall(pvs []corev1.PersistentVolume, driver, rollback string) error {
	var vols []string
	for _, pv := range pvs {
		if pv.Spec.CSI == nil || pv.Spec.CSI.Driver != driver {
			continue
		}
		v := pv.Name
		if c := pv.Spec.ClaimRef; c != nil {
			v += " (claim " + c.Namespace + "/" + c.Name + ")"
		}
		vols = append(vols, v)
	}
	if len(vols) == 0 {
		return nil
	}
	sort.Strings(vols)
	return fmt.Errorf("%w: %d volume(s) of %s still exist: %s. Uninstalling would stop the filesystem under the pods that mount them, and leave the volumes with no driver to delete them. "+
		"Nothing was deleted, but Helm now lists the release as uninstalling: %s lists it as deployed again (helm upgrade refuses until then). "+
		"Delete the claims first (their data goes with them) and uninstall again, or, to uninstall and keep them on Lustre, run that rollback, then helm upgrade --reuse-values --set uninstall.allowWithVolumes=true, then helm uninstall",
		ErrUninstallRefused, len(vols), driver, strings.Join(vols, ", "), rollback)
}
