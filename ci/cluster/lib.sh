# Shared by ci/cluster/*.sh: paths, addresses, process helpers.
# shellcheck shell=bash
CLUSTER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE=${STATE:-/tmp/kube-lustre-cluster}
CACHE=${KUBE_LUSTRE_CACHE:-$HOME/.cache/kube-lustre}
# Host-only bridge the nodes' network namespaces hang off. No uplink, no
# forwarding to anything else: traffic stays on this machine.
BRIDGE=${BRIDGE:-klbr0}
NET_PREFIX=${NET_PREFIX:-10.77.0}         # bridge $NET_PREFIX.1, node i at $NET_PREFIX.(10+i)
POD_PREFIX=${POD_PREFIX:-10.78}           # pods of node i in $POD_PREFIX.i.0/24 (inside the node's netns)
SERVICE_CIDR=${SERVICE_CIDR:-10.96.0.0/16}
SERVICE_IP=${SERVICE_IP:-10.96.0.1}       # the `kubernetes` Service
ETCD_PORT=${ETCD_PORT:-2379}
API_PORT=${API_PORT:-6443}
NODE_GRACE=${NODE_GRACE:-10s}             # controller-manager --node-monitor-grace-period
BRIDGE_IP=$NET_PREFIX.1
# cgroup v1 hierarchies a node gets its own subtree in.
CGROUP_CTRLS="cpu cpuacct cpuset memory pids freezer blkio devices hugetlb net_cls perf_event systemd"

log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# start NAME CMD...: runs CMD in its own session, logs to $STATE/logs/NAME.log,
# pid in $STATE/pids/NAME.pid.
start() {
	local n=$1
	shift
	mkdir -p "$STATE/logs" "$STATE/pids"
	setsid "$@" >>"$STATE/logs/$n.log" 2>&1 </dev/null &
	echo $! >"$STATE/pids/$n.pid"
}

alive() { [ -f "$STATE/pids/$1.pid" ] && kill -0 "$(cat "$STATE/pids/$1.pid")" 2>/dev/null; }

# stop NAME [SIG]: stops the process of NAME (TERM, then KILL after 10 s).
stop() {
	local f=$STATE/pids/$1.pid sig=${2:-TERM} pid i
	[ -f "$f" ] || return 0
	pid=$(cat "$f")
	if kill -0 "$pid" 2>/dev/null; then
		kill -"$sig" "$pid" 2>/dev/null || true
		for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$f"
}

# wait_for SECONDS WHAT CMD...: polls CMD every 0.1 s.
wait_for() {
	local t=$1 what=$2 end
	shift 2
	end=$(($(date +%s) + t))
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$end" ] || die "timed out after ${t}s waiting for $what"
		sleep 0.1
	done
}

# kbin: where ci/cluster/build.sh puts the pinned Kubernetes (its K8S_VERSION).
kbin() { echo "$CACHE/k8s-$(sed -n 's/^K8S_VERSION=//p' "$CLUSTER_DIR/build.sh")/bin"; }
kubectl() { "$(kbin)/kubectl" --kubeconfig "$STATE/admin.kubeconfig" "$@"; }

# kubeconfig FILE USER CERT KEY SERVER
kubeconfig() {
	cat >"$1" <<EOC
apiVersion: v1
kind: Config
clusters:
- name: kube-lustre
  cluster: {certificate-authority: $STATE/pki/ca.crt, server: "$5"}
users:
- name: $2
  user: {client-certificate: $3, client-key: $4}
contexts:
- name: kube-lustre
  context: {cluster: kube-lustre, user: $2}
current-context: kube-lustre
EOC
}

# cert NAME SUBJECT [SAN]: a key and a certificate signed by the cluster CA
# in $STATE/pki (ECDSA P-256, 1 year). Kept if present.
cert() {
	local p=$STATE/pki n=$1 subj=$2 san=${3:-} ext
	[ -s "$p/$n.crt" ] && return 0
	ext=$(mktemp)
	{
		echo "basicConstraints=critical,CA:FALSE"
		echo "keyUsage=critical,digitalSignature,keyEncipherment"
		echo "extendedKeyUsage=serverAuth,clientAuth"
		[ -z "$san" ] || echo "subjectAltName=$san"
	} >"$ext"
	openssl ecparam -name prime256v1 -genkey -noout -out "$p/$n.key" 2>/dev/null
	openssl req -new -key "$p/$n.key" -subj "$subj" -out "$p/$n.csr" 2>/dev/null
	openssl x509 -req -in "$p/$n.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
		-days 365 -sha256 -extfile "$ext" -out "$p/$n.crt" 2>/dev/null
	rm -f "$ext" "$p/$n.csr"
}

ca() {
	local p=$STATE/pki
	mkdir -p "$p"
	chmod 700 "$p"
	[ -s "$p/ca.crt" ] && return 0
	openssl ecparam -name prime256v1 -genkey -noout -out "$p/ca.key" 2>/dev/null
	openssl req -x509 -new -key "$p/ca.key" -subj "/CN=kube-lustre-ca" -days 3650 -sha256 \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
		-out "$p/ca.crt" 2>/dev/null
}

node_names() { cat "$STATE/nodes/.names" 2>/dev/null || true; }
# node_index NAME: its 1-based index (assigned when the node is first created).
node_index() { cat "$STATE/nodes/$1/index"; }
