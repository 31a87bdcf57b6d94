{{/*
The shape of a kube-lustre pod: the pod spec of the pods that act on the
host (kube-lustre.hostPodSpec: DRBD agents, targets, clients), the one
container helper every kube-lustre binary runs in (kube-lustre.container:
those pods, the labelling Job, the CSI driver), the CSI sidecars' common
part and the small pieces several pod specs share.
*/}}

{{/* kube-lustre.image: dict root, name (a key of images: labeler, drbd, ..., csi). */}}
{{- define "kube-lustre.image" -}}
{{- include "kube-lustre.imageRef" (dict "root" .root "img" (index .root.Values.images .name) "tag" .root.Chart.AppVersion) -}}
{{- end -}}

{{/*
kube-lustre.imageRef: dict root, img ({repository, tag, digest}), tag (the
default tag). images.registry, when set, is where every image comes from:
it replaces the registry a repository names (registry.k8s.io/... for the
CSI sidecars; a first path part with a dot or a colon, or localhost, is a
registry, as container runtimes read it) and is put before one that names
none (kube-lustre/...), so a site mirroring every image needs one value.
A digest pins the image: REPOSITORY:TAG@DIGEST, which runtimes pull by
the digest.
*/}}
{{- define "kube-lustre.imageRef" -}}
{{- $repo := .img.repository -}}
{{- with .root.Values.images.registry | trimSuffix "/" -}}
{{- $parts := splitList "/" $repo -}}
{{- $first := first $parts -}}
{{- if and (gt (len $parts) 1) (or (contains "." $first) (contains ":" $first) (eq $first "localhost")) -}}
{{- $repo = rest $parts | join "/" -}}
{{- end -}}
{{- $repo = printf "%s/%s" . $repo -}}
{{- end -}}
{{- $ref := printf "%s:%s" $repo (.img.tag | default (get . "tag")) -}}
{{- with get .img "digest" -}}
{{- $ref = printf "%s@%s" $ref . -}}
{{- end -}}
{{- $ref -}}
{{- end -}}

{{/* kube-lustre.binary: component -> the entrypoint binary in its image. */}}
{{- define "kube-lustre.binary" -}}
{{- $binaries := dict
      "labeler" "labeler"
      "drbd" "drbd"
      "target" "lustre-target"
      "client" "lustre-client"
      "installer" "installer"
      "failover" "failover-controller"
      "csi" "csi" -}}
{{- index $binaries . | printf "/usr/local/bin/%s" -}}
{{- end -}}

{{/*
kube-lustre.hostPodSpec: the pod spec fields shared by the DRBD and client
DaemonSets and the target StatefulSets: pods that act on the host through
nsenter into PID 1's namespaces, so they need hostPID, hostNetwork (LNet and
DRBD use the node's interfaces) and privileged. The installer init container
makes sure modules and tools are there before the main loop starts.

  root            the chart's root context
  component       drbd, target or client
  serviceAccount  the pod's ServiceAccount
  automount       whether the pod mounts its token
  extraEnv        env entries of both containers after the common ones
  hostLib         (optional) mount the host's /var/lib/kube-lustre, where the
                  DRBD agent puts its handler and socket (DRBD runs its
                  handlers on the host; simulated hosts run none)
  metricsPort     (optional) the node port the main container serves
                  metrics on (kube-lustre.metricsPort)

A target pod (failover.mode automatic) is created behind the scheduling gate
kube-lustre.io/placement (failover.PlacementGate): the failover controller
releases it within a second, pinned to the node with the target's good data
when the Lease marks the other node's copy outdated, else as it is, so that
its preferred node affinity sends it home (docs/failover.md, "Placement").
*/}}
{{- define "kube-lustre.hostPodSpec" -}}
{{- $hostLib := and (index . "hostLib") (not (include "kube-lustre.simulated" .root)) -}}
{{- $mounts := list "topology" "run" -}}
{{- if $hostLib }}{{ $mounts = append $mounts "host-lib" }}{{ end -}}
{{- $installer := dict
      "root" .root
      "component" "installer"
      "args" (list .root.Values.install.mode)
      "securityContext" (dict "privileged" true)
      "volumeMounts" (list "topology")
      "extraEnv" .extraEnv
      "host" true -}}
{{- $main := dict
      "root" .root
      "component" .component
      "args" (list "run")
      "securityContext" (dict "privileged" true)
      "volumeMounts" $mounts
      "extraEnv" .extraEnv
      "host" true
      "probes" true
      "metricsPort" (index . "metricsPort") -}}
serviceAccountName: {{ .serviceAccount }}
automountServiceAccountToken: {{ .automount }}
hostNetwork: true
hostPID: true
dnsPolicy: ClusterFirstWithHostNet
{{- if and (eq .component "target") (eq .root.Values.failover.mode "automatic") }}
schedulingGates: [{name: kube-lustre.io/placement}]
{{- end }}
{{- with include "kube-lustre.priorityClassName" .root }}
priorityClassName: {{ . }}
{{- end }}
imagePullSecrets: {{ include "kube-lustre.pullSecrets" .root }}
initContainers:
  {{- include "kube-lustre.container" $installer | nindent 2 }}
containers:
  {{- include "kube-lustre.container" $main | nindent 2 }}
volumes:
  - name: topology
    configMap: {name: {{ include "kube-lustre.suffixed" (dict "root" .root "suffix" "topology") }}}
  - name: run
    emptyDir: {medium: Memory, sizeLimit: 1Mi}
  {{- if $hostLib }}
  - name: host-lib
    hostPath: {path: /var/lib/kube-lustre, type: DirectoryOrCreate}
  {{- end }}
  {{- with include "kube-lustre.sim.volumes" (dict "root" .root) }}
  {{- . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/*
kube-lustre.container: a container running a kube-lustre binary.

  root             the chart's root context
  component        labeler, drbd, target, client, installer or csi: the
                   container's name, image, binary and resources
  args             the binary's arguments
  securityContext  a dict (written as a block) or a flow mapping such as
                   "{privileged: true}" (written as is)
  volumeMounts     which of the pod's volumes it mounts, by name: topology,
                   socket-dir, run, host-lib (mounted in that order)
  extraEnv         (optional) env entries after the common ones
  host             (optional) it acts on the host, which a test cluster
                   simulates (_simulation.tpl)
  kubeletDir       (optional, CSI node plugin) for the simulated mounts
  healthz          (optional, CSI driver) the port its livenessprobe sidecar
                   serves, and the liveness probe asking it
  probes           (optional) startup, liveness and readiness through the
                   binary's health subcommand
  metricsPort      (optional) serve Prometheus metrics on this port: the
                   env the binary reads and a port named metrics (on a
                   host-network pod a host port, so the scheduler never
                   places two pods claiming it on one node)

Optional keys are read with index (strict rendering).
*/}}
{{- define "kube-lustre.container" -}}
{{- $extraEnv := index . "extraEnv" | default list -}}
{{- with index . "metricsPort" }}
{{- $extraEnv = append $extraEnv (dict "name" "KUBE_LUSTRE_METRICS_ADDR" "value" (printf ":%v" .)) }}
{{- end }}
{{- $env := dict
      "root" .root
      "extraEnv" $extraEnv
      "host" (index . "host") -}}
{{- $simMounts := dict
      "root" .root
      "kubeletDir" (index . "kubeletDir") -}}
- name: {{ .component }}
  image: {{ include "kube-lustre.image" (dict "root" .root "name" .component) }}
  imagePullPolicy: {{ .root.Values.images.pullPolicy }}
  command: {{ prepend .args (include "kube-lustre.binary" .component) | toJson }}
  {{- /* a failed step's last log lines show in kubectl describe */}}
  terminationMessagePolicy: FallbackToLogsOnError
  env:
    {{- include "kube-lustre.env" $env | nindent 4 }}
  {{- with index .root.Values.resources .component }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if kindIs "string" .securityContext }}
  securityContext: {{ .securityContext }}
  {{- else }}
  securityContext:
    {{- toYaml .securityContext | nindent 4 }}
  {{- end }}
  {{- if or (index . "healthz") (index . "metricsPort") }}
  ports:
    {{- with index . "metricsPort" }}
    - {name: metrics, containerPort: {{ . }}, protocol: TCP}
    {{- end }}
    {{- if index . "healthz" }}
    - {name: healthz, containerPort: 9808, protocol: TCP}
    {{- end }}
  {{- end }}
  {{- if index . "healthz" }}
  # livenessprobe (a sidecar) asks the driver's Probe over the socket.
  livenessProbe:
    httpGet: {path: /healthz, port: healthz}
    periodSeconds: 10
    timeoutSeconds: 5
    failureThreshold: 6
  {{- end }}
  volumeMounts:
    {{- if has "topology" .volumeMounts }}
    - {name: topology, mountPath: /etc/kube-lustre, readOnly: true}
    {{- end }}
    {{- if has "socket-dir" .volumeMounts }}
    - {name: socket-dir, mountPath: /csi}
    {{- end }}
    {{- if has "run" .volumeMounts }}
    - {name: run, mountPath: /run/kube-lustre}
    {{- end }}
    {{- if has "host-lib" .volumeMounts }}
    - {name: host-lib, mountPath: /var/lib/kube-lustre}
    {{- end }}
    {{- if index . "host" }}
    {{- with include "kube-lustre.sim.volumeMounts" $simMounts }}
    {{- . | nindent 4 }}
    {{- end }}
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
kube-lustre.env: dict root, extraEnv, host (see kube-lustre.container) ->
the env of a kube-lustre container.
*/}}
{{- define "kube-lustre.env" -}}
{{- if index . "host" }}{{ include "kube-lustre.sim.env" .root }}{{ end -}}
- name: NODE_NAME
  valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
- name: POD_NAME
  valueFrom: {fieldRef: {fieldPath: metadata.name}}
- name: POD_NAMESPACE
  valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
- name: KUBE_LUSTRE_TOPOLOGY
  value: /etc/kube-lustre/values.yaml
{{ include "kube-lustre.logLevelEnv" .root }}
{{- with index . "extraEnv" }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* kube-lustre.logLevelEnv: root -> the env entry of logLevel, which every kube-lustre binary reads. */}}
{{- define "kube-lustre.logLevelEnv" -}}
- name: KUBE_LUSTRE_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- end -}}

{{/*
kube-lustre.csiDriverArgs: root -> the CSI driver's flags after run and
--mode, the same in the controller and the node plugin, as a JSON list.
*/}}
{{- define "kube-lustre.csiDriverArgs" -}}
{{- $p := .Values.provisioner -}}
{{- $mp := include "kube-lustre.clientMountPoint" . -}}
{{- $root := $p.root | default (printf "%s/csi-volumes" (trimSuffix "/" $mp)) -}}
{{- list
      "--endpoint=unix:///csi/csi.sock"
      (printf "--driver-name=%s" (include "kube-lustre.csiDriverName" .))
      (printf "--mount-point=%s" $mp)
      (printf "--root=%s" $root)
      (printf "--project-ids=%v-%v" (int64 $p.projectIDs.min) (int64 $p.projectIDs.max))
      (printf "--default-capacity=%v" (int64 $p.defaultCapacity))
    | toJson -}}
{{- end -}}

{{/*
kube-lustre.csiSidecar: root -> env, resources, securityContext and the
socket mount of a CSI sidecar, after its name, image and args (volumeMounts
last, so a caller may add mounts). Root, since the socket and the
registration directory are root's, but with no capability at all.
*/}}
{{- define "kube-lustre.csiSidecar" -}}
env:
  - name: POD_NAMESPACE
    valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
{{- with .Values.resources.csiSidecar }}
resources:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  runAsUser: 0
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities: {drop: [ALL]}
  seccompProfile: {type: RuntimeDefault}
volumeMounts:
  - {name: socket-dir, mountPath: /csi}
{{- end -}}

{{/*
kube-lustre.scheduling: nodeSelector, affinity and tolerations of a pod
spec: the chart's own, with what pods.<pod> adds (values.yaml, pods).

  root          the chart's root context
  pod           its key in pods: labeler, drbd, target, client, failover,
                csiController or csiNode
  nodeSelector  (optional) the chart's own, a dict; its keys keep their values
  affinity      (optional) the chart's own, YAML text (kube-lustre.clientAffinity,
                kube-lustre.targetAffinity, kube-lustre.failoverAffinity)
  tolerations   (optional) the chart's own, YAML text of a list

The chart's own affinity and tolerations are written as they are when
pods.<pod> adds none; kube-lustre.mergeAffinity says how the two merge.
It renders nothing when neither sets anything (and never begins with a
newline), so a caller indents it inside a with: with include ..., . | nindent.
*/}}
{{- define "kube-lustre.scheduling" -}}
{{- include "kube-lustre.schedulingFields" . | trim -}}
{{- end -}}

{{/* kube-lustre.schedulingFields: kube-lustre.scheduling, each field after a newline. */}}
{{- define "kube-lustre.schedulingFields" -}}
{{- $user := index .root.Values.pods .pod | default dict -}}
{{- $selector := merge (dict)
      (index . "nodeSelector" | default dict)
      (index $user "nodeSelector" | default dict) -}}
{{- $ownAffinity := index . "affinity" | default "" -}}
{{- $userAffinity := index $user "affinity" | default dict -}}
{{- $ownTolerations := index . "tolerations" | default "" -}}
{{- $userTolerations := index $user "tolerations" | default list -}}
{{- with $selector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if $userAffinity }}
{{- $affinities := dict
      "own" ($ownAffinity | fromYaml)
      "user" $userAffinity }}
affinity:
  {{- include "kube-lustre.mergeAffinity" $affinities | nindent 2 }}
{{- else if $ownAffinity }}
affinity:
  {{- $ownAffinity | nindent 2 }}
{{- end }}
{{- if or $ownTolerations $userTolerations }}
tolerations:
  {{- with $ownTolerations }}
  {{- . | nindent 2 }}
  {{- end }}
  {{- with $userTolerations }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}
{{- end -}}

{{/*
kube-lustre.mergeAffinity: dict own (the chart's affinity), user
(pods.<pod>.affinity) -> one affinity that keeps every constraint of the
chart's. Required node selector terms are ORed, so they are not simply
appended: each of the user's terms is joined (ANDed) with each of the
chart's, and a pod still runs only where the chart lets it. Preferred node
terms and the pod (anti-)affinity terms are appended: required pod terms
all hold anyway.
*/}}
{{- define "kube-lustre.mergeAffinity" -}}
{{- $req := "requiredDuringSchedulingIgnoredDuringExecution" -}}
{{- $pref := "preferredDuringSchedulingIgnoredDuringExecution" -}}
{{- $ownNode := index .own "nodeAffinity" | default dict -}}
{{- $userNode := index .user "nodeAffinity" | default dict -}}
{{- $ownTerms := dig $req "nodeSelectorTerms" list $ownNode -}}
{{- $userTerms := dig $req "nodeSelectorTerms" list $userNode -}}
{{- $terms := concat $ownTerms $userTerms -}}
{{- if and $ownTerms $userTerms -}}
{{- $terms = list -}}
{{- range $o := $ownTerms -}}
{{- range $u := $userTerms -}}
{{- $term := dict -}}
{{- range $k := list "matchExpressions" "matchFields" -}}
{{- with concat (index $o $k | default list) (index $u $k | default list) -}}
{{- $_ := set $term $k . -}}
{{- end -}}
{{- end -}}
{{- $terms = append $terms $term -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $node := dict -}}
{{- with $terms }}{{ $_ := set $node $req (dict "nodeSelectorTerms" .) }}{{ end -}}
{{- with concat (index $ownNode $pref | default list) (index $userNode $pref | default list) -}}
{{- $_ := set $node $pref . -}}
{{- end -}}
{{- $out := dict -}}
{{- with $node }}{{ $_ := set $out "nodeAffinity" . }}{{ end -}}
{{- range $kind := list "podAffinity" "podAntiAffinity" -}}
{{- $o := index $.own $kind | default dict -}}
{{- $u := index $.user $kind | default dict -}}
{{- $terms := dict -}}
{{- range $k := list $req $pref -}}
{{- with concat (index $o $k | default list) (index $u $k | default list) -}}
{{- $_ := set $terms $k . -}}
{{- end -}}
{{- end -}}
{{- with $terms }}{{ $_ := set $out $kind . }}{{ end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/*
kube-lustre.targetAffinity: dict root, nodes (the target's) -> the target
pod's affinity: required on exactly the target's nodes, preferred (weight
100) on the first (targets.yaml says why). The failover controller reads
the node pair from the one required term (failover.podPair).
*/}}
{{- define "kube-lustre.targetAffinity" -}}
nodeAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    nodeSelectorTerms:
      - matchExpressions:
          - key: kubernetes.io/hostname
            operator: In
            values: {{ .nodes | toJson }}
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      preference:
        matchExpressions:
          - key: kubernetes.io/hostname
            operator: In
            values: [{{ first .nodes | quote }}]
{{- end -}}

{{/*
kube-lustre.targetTolerations: root -> the target pod's own tolerations:
not-ready and unreachable for failover.leaseSeconds (targets.yaml says why).
*/}}
{{- define "kube-lustre.targetTolerations" -}}
- key: node.kubernetes.io/not-ready
  operator: Exists
  effect: NoExecute
  tolerationSeconds: {{ .Values.failover.leaseSeconds }}
- key: node.kubernetes.io/unreachable
  operator: Exists
  effect: NoExecute
  tolerationSeconds: {{ .Values.failover.leaseSeconds }}
{{- end -}}

{{/*
kube-lustre.failoverAffinity: root -> the failover controller's affinity:
its two replicas preferably on different nodes.
*/}}
{{- define "kube-lustre.failoverAffinity" -}}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- $replicas := dict "root" . "component" "failover" }}
            {{- include "kube-lustre.selectorLabels" $replicas | nindent 12 }}
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
{{- $server := include "kube-lustre.nodeLabel" (dict "root" . "role" "server") -}}
nodeAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    nodeSelectorTerms:
      - matchExpressions:
          - {key: {{ $server | quote }}, operator: DoesNotExist}
{{- end -}}

{{/*
kube-lustre.restrictedSecurityContext: containers that only talk to the API
(labelling Job, failover controller) or read a path (test pod) run as nobody
with nothing extra.
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
kube-lustre.pullSecrets: root -> the imagePullSecrets list of a pod spec, as
JSON: images.pullSecrets, imagePullSecrets and global.imagePullSecrets (the
last two take names or {name: ...}), each Secret once.
*/}}
{{- define "kube-lustre.pullSecrets" -}}
{{- $global := index .Values "global" | default dict -}}
{{- $all := concat
      .Values.images.pullSecrets
      (index .Values "imagePullSecrets" | default list)
      (index $global "imagePullSecrets" | default list) -}}
{{- $names := list -}}
{{- range $all -}}
{{- if kindIs "map" . }}{{ $names = append $names .name }}{{ else }}{{ $names = append $names . }}{{ end -}}
{{- end -}}
{{- $out := list -}}
{{- range uniq $names }}{{ $out = append $out (dict "name" .) }}{{ end -}}
{{- toJson $out -}}
{{- end -}}

{{/*
kube-lustre.checksum: any value -> a short hash put on a pod template, so a
pod restarts when, and only when, the part of the topology it uses changed.
Quoted: a hex prefix such as 1234e567... would otherwise be read as a number.
*/}}
{{- define "kube-lustre.checksum" -}}
{{- toJson . | sha256sum | trunc 16 | quote -}}
{{- end -}}
