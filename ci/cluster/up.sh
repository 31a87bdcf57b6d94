#!/usr/bin/env bash
# Starts the local Kubernetes cluster: etcd, kube-apiserver,
# kube-controller-manager and kube-scheduler as local processes, then the
# nodes, each a real kubelet with its own containerd in its own network
# namespace (ci/cluster/node.sh). Writes $STATE/admin.kubeconfig.
#
#   NODES="s1 s2 s3" ci/cluster/up.sh   # node names (or a count: NODES=3 -> n1 n2 n3)
#   NODES=0 ci/cluster/up.sh            # control plane only, on 127.0.0.1
#   ci/cluster/down.sh                  # stops everything, leaves nothing running
#
# The binaries come from ci/cluster/build.sh (cached; the first build takes
# 15-25 min). With nodes, the API server listens on the host-only bridge
# address ($NET_PREFIX.1) so that nodes and pods reach it; without, on
# 127.0.0.1. Certificates and images are kept in $STATE across down/up
# (a warm start); etcd's data is not (every up is a fresh cluster).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
NODES=${NODES:-2}
if [[ $NODES =~ ^[0-9]+$ ]]; then
	names=""
	for i in $(seq "$NODES"); do names="$names n$i"; done
	NODES=${names# }
fi
t0=$(date +%s.%N)
elapsed() { printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc)"; }

[ ! -f "$STATE/pids/kube-apiserver.pid" ] || ! alive kube-apiserver || die "a cluster is already running in $STATE (ci/cluster/down.sh stops it)"
"$CLUSTER_DIR/deps.sh"
BIN=$("$CLUSTER_DIR/build.sh")
mkdir -p "$STATE"/{logs,pids,nodes}
# What exists before we start, so that down.sh removes only what the cluster
# left; the kernel settings kubelet changes, so that down.sh restores them.
for d in /var/lib/kubelet/device-plugins /var/lib/kubelet /var/log/containers /run/containerd/s /run/containerd/runc /run/containerd /run/netns; do
	[ -d "$d" ] && echo "$d"
done >"$STATE/preexisting"
[ -f "$STATE/sysctl.saved" ] || for k in vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops kernel/keys/root_maxkeys kernel/keys/root_maxbytes; do
	[ -r "/proc/sys/$k" ] && echo "$k $(cat "/proc/sys/$k")"
done >"$STATE/sysctl.saved"

if [ -n "$NODES" ]; then
	API_ADDR=$BRIDGE_IP
	if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
		ip link add "$BRIDGE" type bridge
		ip addr add "$BRIDGE_IP/24" dev "$BRIDGE"
	fi
	ip link set "$BRIDGE" up
else
	API_ADDR=127.0.0.1
fi
echo "$API_ADDR" >"$STATE/api-addr"
SERVER=https://$API_ADDR:$API_PORT

# Certificates (kept across runs: the SANs cover both addresses).
ca
p=$STATE/pki
cert apiserver "/CN=kube-apiserver" \
	"IP:127.0.0.1,IP:$BRIDGE_IP,IP:$SERVICE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
cert admin "/O=system:masters/CN=kube-lustre-admin"
cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
cert controller-manager "/CN=system:kube-controller-manager"
cert scheduler "/CN=system:kube-scheduler"
[ -s "$p/sa.key" ] || {
	openssl ecparam -name prime256v1 -genkey -noout -out "$p/sa.key" 2>/dev/null
	openssl ec -in "$p/sa.key" -pubout -out "$p/sa.pub" 2>/dev/null
}
kubeconfig "$STATE/admin.kubeconfig" admin "$p/admin.crt" "$p/admin.key" "$SERVER"
kubeconfig "$STATE/controller-manager.kubeconfig" controller-manager "$p/controller-manager.crt" "$p/controller-manager.key" "$SERVER"
kubeconfig "$STATE/scheduler.kubeconfig" scheduler "$p/scheduler.crt" "$p/scheduler.key" "$SERVER"
log "certificates ready ($(elapsed) s)"

rm -rf "$STATE/etcd"
start etcd "$BIN/etcd" --name kube-lustre --data-dir "$STATE/etcd" \
	--listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
	--listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
	--initial-cluster "kube-lustre=http://127.0.0.1:$((ETCD_PORT + 1))" \
	--unsafe-no-fsync --log-level warn
wait_for 30 etcd curl -sf "http://127.0.0.1:$ETCD_PORT/health"
log "etcd ready ($(elapsed) s)"

start kube-apiserver "$BIN/kube-apiserver" \
	--etcd-servers "http://127.0.0.1:$ETCD_PORT" \
	--bind-address "$API_ADDR" --advertise-address "$API_ADDR" --secure-port "$API_PORT" \
	--endpoint-reconciler-type none \
	--cert-dir "$p" --tls-cert-file "$p/apiserver.crt" --tls-private-key-file "$p/apiserver.key" \
	--client-ca-file "$p/ca.crt" \
	--service-account-issuer https://kubernetes.default.svc.cluster.local \
	--service-account-key-file "$p/sa.pub" --service-account-signing-key-file "$p/sa.key" \
	--service-cluster-ip-range "$SERVICE_CIDR" \
	--authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
	--allow-privileged=true \
	--kubelet-client-certificate "$p/apiserver-kubelet-client.crt" --kubelet-client-key "$p/apiserver-kubelet-client.key" \
	--kubelet-preferred-address-types InternalIP \
	--profiling=false --v=1
readyz() { curl -sf --cacert "$p/ca.crt" --cert "$p/admin.crt" --key "$p/admin.key" "$SERVER/readyz"; }
wait_for 60 "kube-apiserver /readyz" readyz
log "kube-apiserver ready at $SERVER ($(elapsed) s)"

# --kube-api-qps: the persistent volume controller binds claims one at a
# time at the default 20 requests per second: a thousand claims took
# minutes (the CSI suite binds 1,000).
start kube-controller-manager "$BIN/kube-controller-manager" \
	--kubeconfig "$STATE/controller-manager.kubeconfig" \
	--authentication-kubeconfig "$STATE/controller-manager.kubeconfig" --authorization-kubeconfig "$STATE/controller-manager.kubeconfig" \
	--bind-address 127.0.0.1 --secure-port 0 --leader-elect=false \
	--service-account-private-key-file "$p/sa.key" --root-ca-file "$p/ca.crt" --use-service-account-credentials \
	--service-cluster-ip-range "$SERVICE_CIDR" --allocate-node-cidrs=false \
	--node-monitor-period 1s --node-monitor-grace-period "$NODE_GRACE" \
	--kube-api-qps 200 --kube-api-burst 400 \
	--profiling=false --v=1
start kube-scheduler "$BIN/kube-scheduler" \
	--kubeconfig "$STATE/scheduler.kubeconfig" \
	--authentication-kubeconfig "$STATE/scheduler.kubeconfig" --authorization-kubeconfig "$STATE/scheduler.kubeconfig" \
	--bind-address 127.0.0.1 --secure-port 0 --leader-elect=false --profiling=false --v=1
# The default ServiceAccount appears once the controller-manager runs: pods
# can be created from then on.
wait_for 60 "default ServiceAccount" kubectl get serviceaccount default -n default
log "control plane ready ($(elapsed) s): export KUBECONFIG=$STATE/admin.kubeconfig"

if [ -n "$NODES" ]; then
	"$CLUSTER_DIR/images.sh"
	i=0
	pids=()
	for n in $NODES; do
		i=$((i + 1))
		"$CLUSTER_DIR/node.sh" up "$n" "$i" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || die "a node failed to start (see $STATE/logs)"; done
	ready() { # NAME: Ready, or fail at once when its kubelet died
		alive "$1-kubelet" || { tail -n 3 "$STATE/logs/$1-kubelet.log" >&2; die "kubelet of $1 exited"; }
		[ "$(kubectl get node "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
	}
	for n in $NODES; do
		end=$(($(date +%s) + 120))
		until ready "$n"; do
			[ "$(date +%s)" -lt "$end" ] || die "timed out after 120s waiting for node $n Ready"
			sleep 0.1
		done
	done
	log "nodes Ready: $NODES ($(elapsed) s)"
fi
elapsed >"$STATE/up-seconds"
echo "export KUBECONFIG=$STATE/admin.kubeconfig"
