#!/usr/bin/env bash
# Stops the local cluster started by up.sh: every node (kubelet, containerd,
# shims, containers), then the control plane; unmounts what the nodes
# mounted, removes their network namespaces, cgroups and the bridge, cleans
# what kubelet and containerd leave outside their roots, and restores the
# kernel settings kubelet changes. Idempotent. Keeps $STATE/pki and
# $STATE/images for a warm start (PURGE=1 removes $STATE entirely).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ -d "$STATE" ] || { log "nothing to stop in $STATE"; exit 0; }
for n in $(node_names) $(cd "$STATE/nodes" 2>/dev/null && ls); do
	[ -d "$STATE/nodes/$n" ] && "$CLUSTER_DIR/node.sh" down "$n"
done
for c in kube-scheduler kube-controller-manager kube-apiserver etcd; do stop "$c"; done

# Leftovers outside the roots. Only what the cluster created: up.sh records
# which of these existed before.
pre=$STATE/preexisting
[ -d /var/log/containers ] && find /var/log/containers -maxdepth 1 -type l -lname "$STATE/*" -delete 2>/dev/null
for d in /var/lib/kubelet/device-plugins /var/lib/kubelet /var/log/containers /run/containerd/s /run/containerd/runc /run/containerd; do
	if [ -d "$d" ] && ! grep -qx "$d" "$pre" 2>/dev/null; then
		if [ "$d" = /var/lib/kubelet/device-plugins ]; then rm -f "$d"/kubelet.sock "$d"/DEPRECATION; fi
		if [ "$d" = /run/containerd/s ]; then find "$d" -maxdepth 1 -type s -delete 2>/dev/null || true; fi
		rmdir "$d" 2>/dev/null || log "left $d: not empty"
	fi
done
# kernel settings kubelet sets at start (setupKernelTunables)
if [ -f "$STATE/sysctl.saved" ]; then
	while read -r k v; do echo "$v" >"/proc/sys/$k" 2>/dev/null || true; done <"$STATE/sysctl.saved"
	rm -f "$STATE/sysctl.saved"
fi
ip link show "$BRIDGE" >/dev/null 2>&1 && ip link del "$BRIDGE"
# `ip netns add` makes /run/netns a shared mount of itself the first time
if ! grep -qx /run/netns "$pre" 2>/dev/null && [ -d /run/netns ] && [ -z "$(ls -A /run/netns)" ]; then
	umount /run/netns 2>/dev/null || true
	rmdir /run/netns 2>/dev/null || true
fi
for c in $CGROUP_CTRLS unified; do
	for d in /sys/fs/cgroup/$c/kl-*; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null; done
done
# the private mount node.sh keeps the nodes' mount namespaces on
if [ -d "$STATE/mntns" ]; then
	umount "$STATE/mntns" 2>/dev/null || true
	rm -rf "$STATE/mntns"
fi
rm -rf "$STATE/etcd" "$STATE/pids" "$STATE/nodes" "$STATE/api-addr" "$pre"
[ "${PURGE:-0}" = 1 ] && rm -rf "$STATE"
left=$(pgrep -f "$STATE/" 2>/dev/null || true)
[ -z "$left" ] || log "warning: processes still running with $STATE in their command line: $left"
left=$(awk -v p="$STATE/" 'index($5, p) == 1' /proc/self/mountinfo)
[ -z "$left" ] || log "warning: mounts left under $STATE: $left"
log "cluster stopped"
