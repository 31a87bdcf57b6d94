#!/usr/bin/env bash
# One node of the local cluster: a real kubelet with its own containerd (and
# runc, CNI bridge) in its own network namespace, its own cgroup subtree
# /kl-<name> and its own directories under $STATE/nodes/<name>.
#
#   node.sh up NAME [INDEX]   create (or restart) the node; INDEX picks its address
#   node.sh crash NAME        SIGKILL every process of the node at once (kubelet,
#                             containerd, shims, containers): to Kubernetes it
#                             is a crashed machine, the node goes Unknown
#   node.sh down NAME         stop the node and remove everything it left
#   node.sh cut-api NAME      drop every packet from the node to the API server
#                             (kubelet and host-network pods alike, also through
#                             the kubernetes Service): a partition, not a refusal,
#                             so requests hang as they would on a real network
#   node.sh heal-api NAME     undo cut-api
#
# Requires the control plane of up.sh (the API server on the bridge address).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cmd=${1:?usage: node.sh up|crash|down NAME [INDEX]}
name=${2:?node name}
D=$STATE/nodes/$name
MNT=$STATE/mntns/$name
NS=kl-$name
CG=kl-$name
BIN=$(kbin)
trap 'log "node $name: failed (line $LINENO: $BASH_COMMAND)"' ERR

cgroup_dirs() { for c in $CGROUP_CTRLS; do [ -d "/sys/fs/cgroup/$c" ] && echo "/sys/fs/cgroup/$c/$CG"; done; }

# All pids in the node's cgroup subtree (pids hierarchy: every process of the
# node is in it, the daemons in /kl-NAME/daemons, the pods in /kl-NAME/kubepods).
node_pids() { find "/sys/fs/cgroup/pids/$CG" -name cgroup.procs -exec cat {} + 2>/dev/null || true; }

kill_all() {
	local f=/sys/fs/cgroup/freezer/$CG i
	# Freeze first so nothing forks or restarts while we kill, as a power cut would.
	[ -d "$f" ] && echo FROZEN >"$f/freezer.state" 2>/dev/null || true
	for i in $(seq 50); do
		pids=$(node_pids)
		[ -n "$pids" ] || break
		kill -KILL $pids 2>/dev/null || true
		[ -d "$f" ] && echo THAWED >"$f/freezer.state" 2>/dev/null || true
		sleep 0.1
	done
	[ -d "$f" ] && echo THAWED >"$f/freezer.state" 2>/dev/null || true
	rm -f "$STATE/pids/$name-kubelet.pid" "$STATE/pids/$name-containerd.pid"
}

rmcgroups() {
	local d
	# runc also creates the pods' cgroups in the hybrid host's cgroup2 tree
	for d in $(cgroup_dirs) /sys/fs/cgroup/unified/$CG; do
		[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
	done
}

unmount_under() { # every mount below $1, deepest first
	local m
	for m in $(awk -v p="$1" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
}

in_ns() { ip netns exec "$NS" "$@"; }

# The node's own mount namespace, a slave of the host's: the node sees the
# host's files (the hostsim directory, our binaries), the host never sees
# the node's mounts, and the node's directory is /var/lib/kubelet in it, as
# on a real machine. The kubelet's plugin, registration and pod paths are
# then the same on every node, which is what a DaemonSet's hostPaths (the
# CSI node plugin's) need. kubelet and containerd share it: each must see
# the other's mounts.
mntns_drop() {
	umount "$MNT" 2>/dev/null || true
	rm -f "$MNT"
}

mntns_make() { # with the setup lock held
	mkdir -p "$STATE/mntns" /var/lib/kubelet
	# unshare keeps a namespace alive by a bind mount onto a file, which
	# must sit on a private mount.
	if ! awk -v p="$STATE/mntns" '$5 == p { f = 1 } END { exit !f }' /proc/self/mountinfo; then
		mount --bind "$STATE/mntns" "$STATE/mntns"
		mount --make-private "$STATE/mntns"
	fi
	touch "$MNT"
	unshare --mount="$MNT" --propagation slave mount --bind "$D/kubelet" /var/lib/kubelet
}

up() {
	local idx=${1:-}
	mkdir -p "$D"
	if [ -n "$idx" ]; then echo "$idx" >"$D/index"; fi
	[ -s "$D/index" ] || die "node $name: no INDEX given and none recorded"
	idx=$(cat "$D/index")
	grep -qx "$name" "$STATE/nodes/.names" 2>/dev/null || echo "$name" >>"$STATE/nodes/.names"
	local ip=$NET_PREFIX.$((10 + idx)) podnet=$POD_PREFIX.$idx api
	api=$(cat "$STATE/api-addr")
	[ "$api" = "$BRIDGE_IP" ] || die "the API server listens on $api: nodes need it on the bridge (up.sh with NODES)"
	alive "$name-kubelet" && die "node $name is already running"
	echo "$ip" >"$D/ip"
	# A restart after a crash is a reboot: no process, no mount and nothing
	# under run/ (tmpfs on a real machine) survives; disks (roots) do.
	kill_all
	unmount_under "$D/"
	mntns_drop
	rm -rf "$D/run"

	# Network and certificates: one node at a time (the first `ip netns add`
	# mounts /run/netns; nodes start in parallel).
	exec 8>"$STATE/nodes/.setup.lock"
	flock 8
	# Network: a veth from the host bridge into the node's namespace.
	if [ ! -e "/run/netns/$NS" ]; then
		ip netns add "$NS"
		ip link add "kl-v$idx" type veth peer name eth0 netns "$NS"
		ip link set "kl-v$idx" master "$BRIDGE" up
		in_ns ip addr add "$ip/24" dev eth0
		in_ns ip link set eth0 up
		in_ns ip link set lo up
		# No default route: the node and its pods reach the bridge subnet
		# (the API server) and nothing else, whatever the host forwards.
		in_ns sysctl -qw net.ipv4.ip_forward=1
		# What kube-proxy would do for the one Service pods need: the API
		# server behind the `kubernetes` Service IP, for host-network pods
		# (OUTPUT) and pod-network pods (PREROUTING).
		for chain in OUTPUT PREROUTING; do
			in_ns iptables -t nat -A "$chain" -d "$SERVICE_IP/32" -p tcp --dport 443 -j DNAT --to-destination "$api:$API_PORT"
		done
		# A host-network pod's connect() needs a route to the Service IP
		# before OUTPUT's DNAT can apply; without it: "network is
		# unreachable" (pod-network pods have a default route in their own
		# netns and never noticed).
		in_ns ip route add "$SERVICE_IP/32" dev eth0 src "$ip"
	fi
	# The control plane reaches the node's pods, as on a real cluster:
	# the API server's pod proxy (kubectl get --raw .../pods/P:PORT/proxy,
	# a metrics scrape) connects to the pod's IP. Gone with the bridge.
	ip route replace "$podnet.0/24" via "$ip" dev "$BRIDGE"

	# Certificates and configuration.
	cert "node-$name" "/O=system:nodes/CN=system:node:$name" "IP:$ip,DNS:$name"
	mkdir -p "$D/kubelet"
	mntns_make
	flock -u 8
	kubeconfig "$D/kubeconfig" "system:node:$name" "$STATE/pki/node-$name.crt" "$STATE/pki/node-$name.key" "https://$api:$API_PORT"
	mkdir -p "$D/cni" "$D/containerd" "$D/kubelet" "$D/run"
	cat >"$D/cni/10-pods.conflist" <<EOC
{"cniVersion": "0.4.0", "name": "pods", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$podnet.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": "$D/cni-ipam"}},
  {"type": "portmap", "capabilities": {"portMappings": true}}
]}
EOC
	cat >"$D/containerd.toml" <<EOC
version = 2
root = "$D/containerd/root"
state = "$D/run/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$D/containerd.sock"
[ttrpc]
  address = "$D/containerd.ttrpc.sock"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$D/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "kube-lustre.local/pause:3.10"
  # root here lacks CAP_SYS_RESOURCE: runc cannot lower oom_score_adj
  restrict_oom_score_adj = true
  disable_apparmor = true
  # pod network namespaces under the node's state, not /var/run/netns
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$D/run/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$D/cni"
  # Registries the nodes pull from, one HOST:PORT/hosts.toml each, shared by
  # every node and read at each pull: a test adds its plain-HTTP registry
  # (on the bridge address) there while the cluster runs.
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$STATE/registries"
EOC
	cat >"$D/kubelet.yaml" <<EOC
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $ip
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $STATE/pki/ca.crt}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
# This host mounts the cgroup v1 hierarchies (with cgroup2 beside them):
# kubelet 1.35+ refuses v1 unless told, and still supports it then.
failCgroupV1: false
cgroupRoot: /$CG
cgroupsPerQOS: true
containerRuntimeEndpoint: unix://$D/containerd.sock
failSwapOn: false
resolvConf: /etc/resolv.conf
nodeLeaseDurationSeconds: 10
nodeStatusUpdateFrequency: 5s
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
# The nodes hold our images preloaded (imported below) and the suites run
# them with pullPolicy Never; one test also pulls the same images, by
# another name, from a registry (same image IDs). Under the default policy
# (NeverVerifyPreloadedImages) an image the kubelet has pulled must be
# re-verified for any other name, which Never forbids: every later pod
# using the preloaded name on that node failed with ErrImageNeverPull.
imagePullCredentialsVerificationPolicy: NeverVerify
maxPods: 50
volumePluginDir: $D/kubelet/volume-plugins
podLogsDir: $D/pod-logs
registerNode: true
EOC

	# cgroups: /kl-NAME in every v1 hierarchy (kubelet's cgroupRoot must exist),
	# the daemons in /kl-NAME/daemons so that crash finds every process.
	local d
	for d in $(cgroup_dirs); do mkdir -p "$d"; done
	if [ -d "/sys/fs/cgroup/cpuset/$CG" ]; then
		cat /sys/fs/cgroup/cpuset/cpuset.cpus >"/sys/fs/cgroup/cpuset/$CG/cpuset.cpus"
		cat /sys/fs/cgroup/cpuset/cpuset.mems >"/sys/fs/cgroup/cpuset/$CG/cpuset.mems"
	fi
	mkdir -p "/sys/fs/cgroup/pids/$CG/daemons" "/sys/fs/cgroup/freezer/$CG/daemons"
	# A daemon of the node: joins the node's cgroups, then runs in its netns
	# and its mount namespace (not `ip netns exec`, which would give each
	# daemon a mount namespace of its own).
	local join="echo \$\$ >/sys/fs/cgroup/pids/$CG/daemons/cgroup.procs && echo \$\$ >/sys/fs/cgroup/freezer/$CG/daemons/cgroup.procs && exec nsenter --net=/run/netns/$NS --mount=$MNT"

	start "$name-containerd" bash -c "$join containerd --config $D/containerd.toml --log-level warn"
	wait_for 30 "containerd of $name" ctr -a "$D/containerd.sock" version
	local t
	for t in "$STATE"/images/*.tar; do
		ctr -a "$D/containerd.sock" -n k8s.io images import "$t" >/dev/null
	done
	start "$name-kubelet" bash -c "$join $BIN/kubelet --config $D/kubelet.yaml --kubeconfig $D/kubeconfig \
		--root-dir /var/lib/kubelet --cert-dir $D/kubelet/pki --hostname-override $name --node-ip $ip --v=1"
	log "node $name: kubelet started ($ip, pods $podnet.0/24)"
}

crash() {
	kill_all
	log "node $name crashed (every process SIGKILLed)"
}

down() {
	kill_all
	mntns_drop
	# What kubelet and containerd leave outside their roots, and the mounts
	# inside them (pod volumes, sandbox netns, overlay rootfs, kubelet's
	# rshared bind mount of its root).
	unmount_under "$D/"
	rmcgroups
	if [ -e "/run/netns/$NS" ]; then
		ip netns del "$NS" 2>/dev/null || true
	fi
	local idx
	idx=$(cat "$D/index" 2>/dev/null || echo x)
	ip link del "kl-v$idx" 2>/dev/null || true
	rm -rf "$D"
	sed -i "/^$name\$/d" "$STATE/nodes/.names" 2>/dev/null || true
	log "node $name removed"
}

# The filter OUTPUT chain sees packets after the nat OUTPUT DNAT of the
# kubernetes Service, so one rule catches both ways to the API server.
api_rule() { echo OUTPUT -d "$(cat "$STATE/api-addr")" -p tcp --dport "$API_PORT" -m comment --comment kl-cut-api -j DROP; }

cut_api() {
	# shellcheck disable=SC2046
	in_ns iptables -C $(api_rule) 2>/dev/null || in_ns iptables -I $(api_rule)
	log "node $name cut off from the API server"
}

heal_api() {
	# shellcheck disable=SC2046
	while in_ns iptables -D $(api_rule) 2>/dev/null; do :; done
	log "node $name reaches the API server again"
}

case $cmd in
up) up "${3:-}" ;;
crash) crash ;;
down) down ;;
cut-api) cut_api ;;
heal-api) heal_api ;;
*) die "unknown command $cmd" ;;
esac
