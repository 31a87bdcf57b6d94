{{/*
Named templates shared by every manifest. Kubernetes names are at most 63
characters; every name helper truncates the release part, never the suffix,
so two objects of one release can never collide after truncation.
*/}}

{{- define "kube-lustre.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kube-lustre.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
kube-lustre.suffixed: dict root, suffix, max (default 63) -> "<fullname>-<suffix>"
with the fullname cut so the whole fits in max.
*/}}
{{- define "kube-lustre.suffixed" -}}
{{- $max := index . "max" | default 63 -}}
{{- $base := include "kube-lustre.fullname" .root | trunc (int (sub $max (add1 (len .suffix)))) | trimSuffix "-" -}}
{{- printf "%s-%s" $base .suffix -}}
{{- end -}}

{{/*
kube-lustre.clusterName: dict root, suffix -> name of a cluster-scoped object
(ClusterRole, ClusterRoleBinding). The namespace is part of it because two
releases of the same name in different namespaces must not share one.
*/}}
{{- define "kube-lustre.clusterName" -}}
{{- $base := printf "%s-%s" .root.Release.Namespace (include "kube-lustre.fullname" .root) | trunc (int (sub 62 (len .suffix))) | trimSuffix "-" -}}
{{- printf "%s-%s" $base .suffix -}}
{{- end -}}

{{/*
kube-lustre.targetName: dict root, short -> "<fullname>-<short>", the name of
the target's StatefulSet, PodDisruptionBudget and Lease. At most 52
characters, not 63: the StatefulSet controller labels each pod with
controller-revision-hash=<name>-<10 char hash>, a label value that must fit
in 63, so a longer StatefulSet name would never get a pod.
*/}}
{{- define "kube-lustre.targetName" -}}
{{- include "kube-lustre.suffixed" (dict "root" .root "suffix" .short "max" 52) -}}
{{- end -}}

{{/* kube-lustre.targetShort: a target map -> mgs, mdt0, ost12 (topology.Target.ShortName). */}}
{{- define "kube-lustre.targetShort" -}}
{{- if eq .type "mgs" -}}mgs{{- else -}}{{ .type }}{{ int (index . "index" | default 0) }}{{- end -}}
{{- end -}}

{{- define "kube-lustre.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* kube-lustre.selectorLabels: dict root, component. Never includes the version: selectors are immutable. */}}
{{- define "kube-lustre.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kube-lustre.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* kube-lustre.labels: dict root, component -> the standard labels of every object and pod template. */}}
{{- define "kube-lustre.labels" -}}
{{ include "kube-lustre.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/part-of: kube-lustre
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ include "kube-lustre.chart" .root }}
{{- end -}}

{{/* kube-lustre.targetSelectorLabels: dict root, short. */}}
{{- define "kube-lustre.targetSelectorLabels" -}}
{{ include "kube-lustre.selectorLabels" (dict "root" .root "component" "target") }}
kube-lustre.io/target: {{ .short }}
{{- end -}}

{{/* kube-lustre.targetLabels: dict root, short. */}}
{{- define "kube-lustre.targetLabels" -}}
{{ include "kube-lustre.labels" (dict "root" .root "component" "target") }}
kube-lustre.io/target: {{ .short }}
{{- end -}}

{{/* kube-lustre.nodeLabel: dict root, role -> <labelPrefix>/<fsname>.<role> (topology.Values.RoleLabel). */}}
{{- define "kube-lustre.nodeLabel" -}}
{{- printf "%s/%s.%s" (.root.Values.labelPrefix | default "kube-lustre.io") (include "kube-lustre.fsname" .root) .role -}}
{{- end -}}

{{/*
kube-lustre.clientAffinity: root -> the affinity of every pod that uses the
client mount (client DaemonSet, CSI node plugin and controller): never on a
node that serves a target of this filesystem. The node that takes over a
target on failover evicts its own client without recovery, and that client
loses the writes it had not synced. The rules refuse such a node in
clients.nodes and the labeler does not make one a client through
clients.nodeSelector; this keeps a stray client label from placing one.
*/}}
{{- define "kube-lustre.clientAffinity" -}}
nodeAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    nodeSelectorTerms:
      - matchExpressions:
          - {key: {{ include "kube-lustre.nodeLabel" (dict "root" . "role" "server") | quote }}, operator: DoesNotExist}
{{- end -}}

{{/* kube-lustre.fsname: the filesystem's name, as topology.Validate derives it: fsname, else external.fsname, else lfs1. */}}
{{- define "kube-lustre.fsname" -}}
{{- .Values.fsname | default (dig "fsname" "" (index .Values "external" | default dict)) | default "lfs1" -}}
{{- end -}}

{{/* kube-lustre.clientMountPoint: clients.mountPoint, else /mnt/<fsname> (topology.Values.ClientMountPoint). */}}
{{- define "kube-lustre.clientMountPoint" -}}
{{- .Values.clients.mountPoint | default (printf "/mnt/%s" (include "kube-lustre.fsname" .)) -}}
{{- end -}}

{{/* kube-lustre.image: dict root, name (labeler, drbd, target, client, installer). */}}
{{- define "kube-lustre.image" -}}
{{- $img := index .root.Values.images .name -}}
{{- $tag := $img.tag | default .root.Chart.AppVersion -}}
{{- if .root.Values.images.registry -}}
{{- printf "%s/%s:%s" (.root.Values.images.registry | trimSuffix "/") $img.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" $img.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* kube-lustre.binary: component -> the entrypoint binary in its image. */}}
{{- define "kube-lustre.binary" -}}
{{- index (dict "labeler" "labeler" "drbd" "drbd" "target" "lustre-target" "client" "lustre-client" "installer" "installer" "failover" "failover-controller" "csi" "csi") . | printf "/usr/local/bin/%s" -}}
{{- end -}}

{{/*
kube-lustre.topology: the one document every binary reads (the rendered
values it needs, nothing chart-only). topology.Check re-validates it with the
same schema and rules as helm lustre validate before any host is touched.
*/}}
{{- define "kube-lustre.topology" -}}
{{- $v := .Values -}}
{{- $t := dict "fsname" $v.fsname "labelPrefix" $v.labelPrefix "lnet" $v.lnet "lustre" $v.lustre "nodes" $v.nodes "targets" $v.targets "clients" $v.clients "failover" $v.failover "install" $v.install -}}
{{- with index $v "external" }}{{ $_ := set $t "external" . }}{{ end -}}
{{- /* Only what a host step needs: the MGS applies the quota settings. */ -}}
{{- $p := $v.provisioner -}}
{{- $_ := set $t "provisioner" (dict "enabled" $p.enabled "root" $p.root "projectIDs" $p.projectIDs "enforceForRoot" $p.enforceForRoot) -}}
{{- toYaml $t -}}
{{- end -}}

{{/*
kube-lustre.validate: what the schema cannot see but would break rendering.
Everything else (one MGS, DRBD ports per node, ...) is for helm lustre validate
and the labelling Job, which report every problem with its path and fix.
*/}}
{{- define "kube-lustre.validate" -}}
{{- if index .Values "external" -}}
{{- if .Values.targets -}}
{{- fail "targets must be empty in external mode (external is set): kube-lustre runs no targets for an existing filesystem. Run `helm lustre validate <values.yaml>` for every problem and its fix." -}}
{{- end -}}
{{- else if not .Values.targets -}}
{{- fail "targets is empty: a filesystem needs an MGS, MDT0 and at least one OST (or set external to serve an existing filesystem). Run `helm lustre validate <values.yaml>` for every problem and its fix." -}}
{{- end -}}
{{- $seen := dict -}}
{{- range $i, $t := .Values.targets -}}
{{- $short := include "kube-lustre.targetShort" $t -}}
{{- if hasKey $seen $short -}}
{{- fail (printf "targets[%d] and targets[%v] are both %s: each would render the same StatefulSet. Run `helm lustre validate <values.yaml>` for every problem and its fix." $i (get $seen $short) $short) -}}
{{- end -}}
{{- $_ := set $seen $short $i -}}
{{- end -}}
{{- end -}}

{{/* kube-lustre.hasDRBD: "true" when any target replicates with DRBD. */}}
{{- define "kube-lustre.hasDRBD" -}}
{{- range .Values.targets -}}{{- if hasKey . "drbd" -}}true{{- end -}}{{- end -}}
{{- end -}}

{{/*
kube-lustre.nodeReaders: the components that must read Node objects, as a
JSON list. A node's DRBD address (nodes.<n>.address) and LNet NIDs
(nodes.<n>.nids) come from the values when given; otherwise the binaries
resolve the node's InternalIP through the API:
  drbd    the DRBD address of every DRBD node (its own and its peer's);
  target  the NIDs of its nodes (mkfs --servicenode) and of the MGS nodes;
  client  the NIDs of the MGS nodes (the mount source).
A component whose facts are all given gets no token at all.
*/}}
{{- define "kube-lustre.nodeReaders" -}}
{{- $nodes := .Values.nodes -}}
{{- $out := dict -}}
{{- range .Values.targets -}}
{{- $t := . -}}
{{- range .nodes -}}
{{- if and (hasKey $t "drbd") (not (dig . "address" "" $nodes)) -}}{{- $_ := set $out "drbd" true -}}{{- end -}}
{{- if not (dig . "nids" list $nodes) -}}
{{- $_ := set $out "target" true -}}
{{- if and $.Values.clients.enabled (or (eq $t.type "mgs") (index $t "mgs")) -}}{{- $_ := set $out "client" true -}}{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- keys $out | sortAlpha | toJson -}}
{{- end -}}

{{/* kube-lustre.env: dict root, extra (list of env entries) -> env of every kube-lustre container. */}}
{{- define "kube-lustre.env" -}}
{{- /* Test clusters only (testing.hostsimDir): simulated hosts, not nsenter. */ -}}
{{- if index . "hostsim" -}}
- name: KUBE_LUSTRE_HOSTSIM
  value: /hostsim
{{ end -}}
- name: NODE_NAME
  valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
- name: POD_NAME
  valueFrom: {fieldRef: {fieldPath: metadata.name}}
- name: POD_NAMESPACE
  valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
- name: KUBE_LUSTRE_TOPOLOGY
  value: /etc/kube-lustre/values.yaml
{{- with .extra }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* kube-lustre.container: dict root, component, args, securityContext; optional extraEnv, probes, mountRun, hostsim (Strict rendering: optional keys are read with index). */}}
{{- define "kube-lustre.container" -}}
- name: {{ .component }}
  image: {{ include "kube-lustre.image" (dict "root" .root "name" .component) }}
  imagePullPolicy: {{ .root.Values.images.pullPolicy }}
  command: {{ prepend .args (include "kube-lustre.binary" .component) | toJson }}
  {{- /* a failed step's last log lines show in kubectl describe */}}
  terminationMessagePolicy: FallbackToLogsOnError
  env:
    {{- include "kube-lustre.env" (dict "root" .root "extra" (index . "extraEnv") "hostsim" (index . "hostsim")) | nindent 4 }}
  {{- with index .root.Values.resources .component }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml .securityContext | nindent 4 }}
  volumeMounts:
    - {name: topology, mountPath: /etc/kube-lustre, readOnly: true}
    {{- if index . "mountRun" }}
    - {name: run, mountPath: /run/kube-lustre}
    {{- end }}
    {{- if index . "hostsim" }}
    - {name: hostsim, mountPath: /hostsim}
    {{- end }}
    {{- if index . "hostLib" }}
    - {name: host-lib, mountPath: /var/lib/kube-lustre}
    {{- end }}
  {{- if index . "probes" }}
  {{- $bin := include "kube-lustre.binary" .component }}
  {{- /* startup gates liveness until the main loop wrote its first status
  (health --live fails while there is none); liveness then only asks whether
  the loop is alive, never whether it serves, so a target waiting hours for a
  DRBD resync is not restarted. */}}
  startupProbe:
    exec: {command: {{ list $bin "health" "--live" | toJson }}}
    periodSeconds: 5
    timeoutSeconds: 5
    failureThreshold: 24
  livenessProbe:
    exec: {command: {{ list $bin "health" "--live" | toJson }}}
    periodSeconds: 10
    timeoutSeconds: 5
    failureThreshold: 6
  readinessProbe:
    exec: {command: {{ list $bin "health" | toJson }}}
    periodSeconds: 5
    timeoutSeconds: 5
    failureThreshold: 2
  {{- end }}
{{- end -}}

{{/*
kube-lustre.hostPodSpec: dict root, component, serviceAccount, automount,
extraEnv, hostLib (optional: mount the host's /var/lib/kube-lustre, where
the DRBD agent puts its handler and socket) -> the pod spec fields shared by the DRBD and client
DaemonSets and the target StatefulSets: pods that act on the host through
nsenter into PID 1's namespaces, so they need hostPID, hostNetwork (LNet and
DRBD use the node's interfaces) and privileged. The installer init container
makes sure modules and tools are there before the main loop starts.

A target pod (failover.mode automatic) is created behind the scheduling gate
kube-lustre.io/placement (failover.PlacementGate): the failover controller
releases it within a second, pinned to the node with the target's good data
when the Lease marks the other node's copy outdated, else as it is, so that
its preferred node affinity sends it home (docs/failover.md, "Placement").
*/}}
{{- define "kube-lustre.hostPodSpec" -}}
serviceAccountName: {{ .serviceAccount }}
automountServiceAccountToken: {{ .automount }}
hostNetwork: true
hostPID: true
dnsPolicy: ClusterFirstWithHostNet
{{- if and (eq .component "target") (eq .root.Values.failover.mode "automatic") }}
schedulingGates: [{name: kube-lustre.io/placement}]
{{- end }}
{{- with .root.Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
imagePullSecrets: {{ include "kube-lustre.pullSecrets" .root }}
initContainers:
  {{- $sim := not (empty .root.Values.testing.hostsimDir) }}
  {{- include "kube-lustre.container" (dict "root" .root "component" "installer" "args" (list .root.Values.install.mode) "extraEnv" .extraEnv "securityContext" (dict "privileged" true) "hostsim" $sim) | nindent 2 }}
containers:
  {{- $hostLib := and (index . "hostLib") (not $sim) }}
  {{- include "kube-lustre.container" (dict "root" .root "component" .component "args" (list "run") "extraEnv" .extraEnv "securityContext" (dict "privileged" true) "probes" true "mountRun" true "hostsim" $sim "hostLib" $hostLib) | nindent 2 }}
volumes:
  - name: topology
    configMap: {name: {{ include "kube-lustre.suffixed" (dict "root" .root "suffix" "topology") }}}
  - name: run
    emptyDir: {medium: Memory, sizeLimit: 1Mi}
  {{- if $hostLib }}
  {{- /* The DRBD handler binary and the agent's fence socket: DRBD runs its handlers on the host. */}}
  - name: host-lib
    hostPath: {path: /var/lib/kube-lustre, type: DirectoryOrCreate}
  {{- end }}
  {{- if .root.Values.testing.hostsimDir }}
  {{- include "kube-lustre.hostsimVolume" .root | nindent 2 }}
  {{- end }}
{{- end -}}

{{/* kube-lustre.hostsimVolume: root -> the simulated hosts' directory (testing.hostsimDir), or nothing. */}}
{{- define "kube-lustre.hostsimVolume" -}}
{{- with .Values.testing.hostsimDir }}
- name: hostsim
  hostPath: {path: {{ . }}, type: Directory}
{{- end }}
{{- end -}}

{{/*
kube-lustre.restrictedSecurityContext: containers that only talk to the API
(labelling Job) or read a path (test pod) run as nobody with nothing extra.
*/}}
{{- define "kube-lustre.restrictedSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65534
runAsGroup: 65534
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities: {drop: [ALL]}
seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{/*
kube-lustre.checksum: any value -> a short hash put on a pod template, so a
pod restarts when, and only when, the part of the topology it uses changed.
Quoted: a hex prefix such as 1234e567... would otherwise be read as a number.
*/}}
{{- define "kube-lustre.checksum" -}}
{{- toJson . | sha256sum | trunc 16 | quote -}}
{{- end -}}

{{/* kube-lustre.pullSecrets: root -> the imagePullSecrets list of a pod spec, as JSON. */}}
{{- define "kube-lustre.pullSecrets" -}}
{{- $out := list -}}
{{- range .Values.images.pullSecrets }}{{ $out = append $out (dict "name" .) }}{{ end -}}
{{- toJson $out -}}
{{- end -}}

{{/* kube-lustre.hookAnnotations: dict events, weight -> hook annotations. */}}
{{- define "kube-lustre.hookAnnotations" -}}
helm.sh/hook: {{ .events }}
helm.sh/hook-weight: {{ .weight | quote }}
helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
{{- end -}}

{{/* kube-lustre.labelerJob: dict root, suffix, verb (apply, remove), events -> a labelling hook Job. */}}
{{- define "kube-lustre.labelerJob" -}}
{{- $sa := include "kube-lustre.suffixed" (dict "root" .root "suffix" "labeler") -}}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ include "kube-lustre.suffixed" (dict "root" .root "suffix" .suffix) }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "kube-lustre.labels" (dict "root" .root "component" "labeler") | nindent 4 }}
  annotations:
    {{- include "kube-lustre.hookAnnotations" (dict "events" .events "weight" 0) | nindent 4 }}
    # A preflight failure (a node missing or not Ready) is printed by helm itself.
    helm.sh/hook-output-log-policy: hook-failed
spec:
  # A few retries for API hiccups; a preflight failure fails the same way every time.
  backoffLimit: 2
  template:
    metadata:
      labels:
        {{- include "kube-lustre.labels" (dict "root" .root "component" "labeler") | nindent 8 }}
    spec:
      restartPolicy: Never
      serviceAccountName: {{ $sa }}
      imagePullSecrets: {{ include "kube-lustre.pullSecrets" .root }}
      containers:
        {{- include "kube-lustre.container" (dict "root" .root "component" "labeler" "args" (list .verb) "securityContext" (include "kube-lustre.restrictedSecurityContext" . | fromYaml)) | nindent 8 }}
      volumes:
        - name: topology
          configMap: {name: {{ $sa }}}
{{- end -}}

{{/*
kube-lustre.binding: dict root, kind (ClusterRoleBinding, RoleBinding),
name (the binding's and its role's), sa, component, hook (optional: dict
events, weight) -> a binding of the role of the same name to one of the
release's ServiceAccounts.
*/}}
{{- define "kube-lustre.binding" -}}
apiVersion: rbac.authorization.k8s.io/v1
kind: {{ .kind }}
metadata:
  name: {{ .name }}
  {{- if eq .kind "RoleBinding" }}
  namespace: {{ .root.Release.Namespace }}
  {{- end }}
  labels:
    {{- include "kube-lustre.labels" (dict "root" .root "component" .component) | nindent 4 }}
  {{- with index . "hook" }}
  annotations:
    {{- include "kube-lustre.hookAnnotations" . | nindent 4 }}
  {{- end }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: {{ trimSuffix "Binding" .kind }}
  name: {{ .name }}
subjects:
  - kind: ServiceAccount
    name: {{ .sa }}
    namespace: {{ .root.Release.Namespace }}
{{- end -}}

{{/* kube-lustre.serviceAccount: dict root, name, component, automount (optional), hook (optional). */}}
{{- define "kube-lustre.serviceAccount" -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ .name }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "kube-lustre.labels" (dict "root" .root "component" .component) | nindent 4 }}
  {{- with index . "hook" }}
  annotations:
    {{- include "kube-lustre.hookAnnotations" . | nindent 4 }}
  {{- end }}
{{- if hasKey . "automount" }}
automountServiceAccountToken: {{ .automount }}
{{- end }}
{{- end -}}

{{/*
kube-lustre.csiContainer: dict root, args, sim (testing.hostsimDir), kubelet
(node plugin in a test cluster only) -> the CSI driver container. It is
privileged because it enters the host's mount namespace (nsenter) to make
directories, set quotas and bind-mount volumes where the kubelet sees them.
*/}}
{{- define "kube-lustre.csiContainer" -}}
- name: csi
  image: {{ include "kube-lustre.image" (dict "root" .root "name" "csi") }}
  imagePullPolicy: {{ .root.Values.images.pullPolicy }}
  command: {{ prepend .args (include "kube-lustre.binary" "csi") | toJson }}
  terminationMessagePolicy: FallbackToLogsOnError
  env:
    {{- include "kube-lustre.env" (dict "root" .root "extra" list "hostsim" (not (empty .sim))) | nindent 4 }}
  {{- with .root.Values.resources.csi }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext: {privileged: true}
  ports:
    - {name: healthz, containerPort: 9808, protocol: TCP}
  # livenessprobe (a sidecar) asks the driver's Probe over the socket.
  livenessProbe:
    httpGet: {path: /healthz, port: healthz}
    periodSeconds: 10
    timeoutSeconds: 5
    failureThreshold: 6
  volumeMounts:
    - {name: socket-dir, mountPath: /csi}
    {{- if .sim }}
    - {name: hostsim, mountPath: /hostsim}
    {{- if index . "kubelet" }}
    {{- /* Simulated hosts only: the driver's bind mount is simulated, so it
    also makes the real directory the container runtime bind-mounts into
    the pod. */}}
    - {name: kubelet-pods, mountPath: {{ index . "kubelet" }}/pods}
    {{- end }}
    {{- end }}
{{- end -}}

{{/* kube-lustre.csiSidecar: root -> env, resources, securityContext and the socket mount of a CSI sidecar (volumeMounts last, so a caller may add mounts). */}}
{{- define "kube-lustre.csiSidecar" -}}
env:
  - name: POD_NAMESPACE
    valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
{{- with .Values.resources.csiSidecar }}
resources:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- /* root (the socket and the registration directory are root's) but with no capability at all. */}}
securityContext:
  runAsUser: 0
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities: {drop: [ALL]}
  seccompProfile: {type: RuntimeDefault}
volumeMounts:
  - {name: socket-dir, mountPath: /csi}
{{- end -}}

{{/* kube-lustre.csiLivenessprobe: root -> the livenessprobe sidecar serving the driver container's /healthz. */}}
{{- define "kube-lustre.csiLivenessprobe" -}}
{{- $img := .Values.provisioner.images.livenessprobe -}}
- name: livenessprobe
  image: {{ printf "%s:%s" $img.repository $img.tag }}
  imagePullPolicy: {{ .Values.images.pullPolicy }}
  args: [--csi-address=/csi/csi.sock, --health-port=9808]
  {{- include "kube-lustre.csiSidecar" . | nindent 2 }}
{{- end -}}
