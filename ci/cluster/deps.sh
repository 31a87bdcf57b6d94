#!/usr/bin/env bash
# Installs the Debian packages the local cluster's nodes use, only when
# missing: containerd and runc (the container runtime), the CNI plugins
# (bridge, host-local, loopback, portmap), a static busybox (the pause and
# nsenter of our test images), iptables and conntrack (kubelet's host rules).
# Debian's policy-rc.d keeps the containerd service from starting: the
# cluster runs its own containerd per node (ci/cluster/up.sh).
set -euo pipefail
need=()
for t in containerd:containerd runc:runc /usr/lib/cni/bridge:containernetworking-plugins \
	/bin/busybox:busybox-static iptables:iptables conntrack:conntrack openssl:openssl; do
	p=${t%%:*}
	if [ "${p#/}" != "$p" ]; then [ -e "$p" ] || need+=("${t#*:}"); else command -v "$p" >/dev/null 2>&1 || need+=("${t#*:}"); fi
done
if [ ${#need[@]} -gt 0 ]; then
	echo "installing ${need[*]}" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
