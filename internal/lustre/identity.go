package lustre

// IdentityUpcallParam is the permanent parameter (lctl set_param -P on the
// MGS) that sets how every MDT of fsname learns a client's identity:
// "NONE" makes the MDS trust the uid, gid and supplementary groups the
// client sends; a path (Lustre's default /usr/sbin/l_getidentity) makes
// it resolve them from the MDS node's own passwd and group databases and
// deny uids it does not know (Permission denied, whatever the mode bits).
func IdentityUpcallParam(fsname, upcall string) string {
	return "mdt." + fsname + "-MDT*.identity_upcall=" + upcall
}
