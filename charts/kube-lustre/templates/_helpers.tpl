{{/*
Names, labels and the values two templates share. The named templates are
in three files:

  _helpers.tpl     names, labels, the topology document, nodeReaders
  _pod.tpl         the shape of a kube-lustre pod and its containers
  _simulation.tpl  what test clusters (testing.hostsimDir) render instead of
                   the real host; nothing else looks at that value

Everything else is written out in the template of the object it belongs
to. A helper that takes several values takes a dict; a caller builds one of
more than two keys one key a line.
*/}}

{{- /* ---------------------------------------------------------------- names */ -}}

{{/*
Kubernetes names are at most 63 characters; every name helper truncates the
release part, never the suffix, so two objects of one release can never
collide after truncation.
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
{{- $room := int (sub $max (add1 (len .suffix))) -}}
{{- $base := include "kube-lustre.fullname" .root | trunc $room | trimSuffix "-" -}}
{{- printf "%s-%s" $base .suffix -}}
{{- end -}}

{{/*
kube-lustre.clusterName: dict root, suffix -> name of a cluster-scoped object
(ClusterRole, ClusterRoleBinding). The namespace is part of it because two
releases of the same name in different namespaces must not share one.
*/}}
{{- define "kube-lustre.clusterName" -}}
{{- $room := int (sub 62 (len .suffix)) -}}
{{- $base := printf "%s-%s" .root.Release.Namespace (include "kube-lustre.fullname" .root) -}}
{{- $base = $base | trunc $room | trimSuffix "-" -}}
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
{{- $name := dict
      "root" .root
      "suffix" .short
      "max" 52 -}}
{{- include "kube-lustre.suffixed" $name -}}
{{- end -}}

{{/* kube-lustre.targetShort: a target map -> mgs, mdt0, ost12 (topology.Target.ShortName). */}}
{{- define "kube-lustre.targetShort" -}}
{{- if eq .type "mgs" -}}mgs{{- else -}}{{ .type }}{{ int (index . "index" | default 0) }}{{- end -}}
{{- end -}}

{{/*
kube-lustre.recordName: dict(root, short) -> the ConfigMap recording that
the target was created (internal/targetrecord). Named by the fsname and the
target, never the release, so that a renamed or reinstalled release finds
it; the fsname lower-cased, its "_" as "." (ConfigMap names allow neither
upper case nor "_").
*/}}
{{- define "kube-lustre.recordName" -}}
{{- $fs := include "kube-lustre.fsname" .root | lower | replace "_" "." -}}
kube-lustre-record-{{ $fs }}-{{ .short }}
{{- end -}}

{{/*
kube-lustre.fsname: the filesystem's name, as topology.Validate derives it:
fsname, else external.fsname, else lfs1.
*/}}
{{- define "kube-lustre.fsname" -}}
{{- $external := index .Values "external" | default dict -}}
{{- .Values.fsname | default (dig "fsname" "" $external) | default "lfs1" -}}
{{- end -}}

{{/*
kube-lustre.clientMountPoint: clients.mountPoint, else /mnt/<fsname>
(topology.Values.ClientMountPoint).
*/}}
{{- define "kube-lustre.clientMountPoint" -}}
{{- .Values.clients.mountPoint | default (printf "/mnt/%s" (include "kube-lustre.fsname" .)) -}}
{{- end -}}

{{/* kube-lustre.csiDriverName: provisioner.driverName, else <fsname>.lustre.csi.kube-lustre.io. */}}
{{- define "kube-lustre.csiDriverName" -}}
{{- $default := printf "%s.lustre.csi.kube-lustre.io" (include "kube-lustre.fsname" .) -}}
{{- .Values.provisioner.driverName | default $default -}}
{{- end -}}

{{/* kube-lustre.storageClassName: provisioner.storageClass.name, else lustre-<lower-case fsname>. */}}
{{- define "kube-lustre.storageClassName" -}}
{{- $default := printf "lustre-%s" (include "kube-lustre.fsname" . | lower) -}}
{{- .Values.provisioner.storageClass.name | default $default -}}
{{- end -}}

{{/*
kube-lustre.nodeLabel: dict root, role -> <labelPrefix>/<fsname>.<role>
(topology.Values.RoleLabel).
*/}}
{{- define "kube-lustre.nodeLabel" -}}
{{- $prefix := .root.Values.labelPrefix | default "kube-lustre.io" -}}
{{- printf "%s/%s.%s" $prefix (include "kube-lustre.fsname" .root) .role -}}
{{- end -}}

{{- /* --------------------------------------------------------------- labels */ -}}

{{/*
kube-lustre.selectorLabels: dict root, component, target (optional: the
target's short name) -> the labels a selector matches. Never includes the
version: selectors are immutable.
*/}}
{{- define "kube-lustre.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kube-lustre.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: {{ .component }}
{{- with index . "target" }}
kube-lustre.io/target: {{ . }}
{{- end }}
{{- end -}}

{{/*
kube-lustre.labels: dict root, component, target (optional), podLabels
(optional: a pod template's pods.<pod>.podLabels) -> the labels of every
object and pod template: the chart's own (kube-lustre.standardLabels), then
podLabels and commonLabels (podLabels first) under the keys the chart does
not set itself: its own keep their values, selectors match them.
*/}}
{{- define "kube-lustre.labels" -}}
{{- $own := include "kube-lustre.standardLabels" . -}}
{{- $ownKeys := $own | fromYaml -}}
{{- $added := dict -}}
{{- $wanted := merge (dict)
      (index . "podLabels" | default dict)
      (index .root.Values "commonLabels" | default dict) -}}
{{- range $k, $v := $wanted -}}
{{- if not (hasKey $ownKeys $k) }}{{ $_ := set $added $k $v }}{{ end -}}
{{- end -}}
{{ $own }}
{{- with $added }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
kube-lustre.standardLabels: dict root, component, target (optional) -> the
chart's own labels: the selector labels, then the standard ones, then the
target's.
*/}}
{{- define "kube-lustre.standardLabels" -}}
{{ include "kube-lustre.selectorLabels" (dict "root" .root "component" .component) }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/part-of: kube-lustre
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- $chart := printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
helm.sh/chart: {{ $chart | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- with index . "target" }}
kube-lustre.io/target: {{ . }}
{{- end }}
{{- end -}}

{{/*
kube-lustre.podMetadata: the labels and annotations of a pod template.

  root         the chart's root context
  component    its app.kubernetes.io/component
  pod          its key in pods: labeler, drbd, target, client, failover,
               csiController or csiNode
  target       (optional) the target's short name
  annotations  (optional) the chart's own annotations, a dict of values
               written as they are (kube-lustre.checksum quotes itself)

pods.<pod>.podLabels and commonLabels are added to the labels,
pods.<pod>.podAnnotations to the annotations; the chart's own keys keep
their values.
*/}}
{{- define "kube-lustre.podMetadata" -}}
{{- $pod := index .root.Values.pods .pod | default dict -}}
{{- $labels := dict
      "root" .root
      "component" .component
      "target" (index . "target")
      "podLabels" (index $pod "podLabels") -}}
{{- $own := index . "annotations" | default dict -}}
{{- $added := dict -}}
{{- range $k, $v := index $pod "podAnnotations" | default dict -}}
{{- if not (hasKey $own $k) }}{{ $_ := set $added $k $v }}{{ end -}}
{{- end -}}
labels:
  {{- include "kube-lustre.labels" $labels | nindent 2 }}
{{- if or $own $added }}
annotations:
  {{- range $k, $v := $own }}
  {{ $k }}: {{ $v }}
  {{- end }}
  {{- with $added }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}
{{- end -}}

{{/*
kube-lustre.priorityClassName: root -> the PriorityClass of the
filesystem's own pods: priorityClassName, else the one the chart creates
(priorityclass.yaml), else nothing.
*/}}
{{- define "kube-lustre.priorityClassName" -}}
{{- if .Values.priorityClassName -}}
{{- .Values.priorityClassName -}}
{{- else if .Values.priorityClass.create -}}
{{- include "kube-lustre.clusterName" (dict "root" . "suffix" "critical") -}}
{{- end -}}
{{- end -}}

{{- /* ---------------------------------------------- values two templates share */ -}}

{{/*
kube-lustre.topology: the one document every binary reads (the rendered
values it needs, nothing chart-only), in the release's ConfigMap
(topology.yaml) and in the labelling Job's hook copy (labeler.yaml).
topology.Check re-validates it with the same schema and rules as helm lustre
validate before any host is touched.
*/}}
{{- define "kube-lustre.topology" -}}
{{- $v := .Values -}}
{{- $t := dict
      "fsname" $v.fsname
      "labelPrefix" $v.labelPrefix
      "lnet" $v.lnet
      "lustre" $v.lustre
      "nodes" $v.nodes
      "targets" $v.targets
      "clients" $v.clients
      "failover" $v.failover
      "install" $v.install -}}
{{- with index $v "external" }}{{ $_ := set $t "external" . }}{{ end -}}
{{- /* Only what a host step needs: the MGS applies the quota settings. */ -}}
{{- $p := $v.provisioner -}}
{{- $_ := set $t "provisioner" (dict
      "enabled" $p.enabled
      "root" $p.root
      "projectIDs" $p.projectIDs
      "enforceForRoot" $p.enforceForRoot) -}}
{{- toYaml $t | trimSuffix "\n" -}}
{{- end -}}

{{/*
kube-lustre.nodeReaders: the components that must read Node objects, as a
JSON list (nodes.yaml binds them, client.yaml gives the client a token only
then). A node's DRBD address (nodes.<n>.address) and LNet NIDs
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
{{- $isMGS := or (eq $t.type "mgs") (index $t "mgs") -}}
{{- range .nodes -}}
{{- if and (hasKey $t "drbd") (not (dig . "address" "" $nodes)) -}}
{{- $_ := set $out "drbd" true -}}
{{- end -}}
{{- if not (dig . "nids" list $nodes) -}}
{{- $_ := set $out "target" true -}}
{{- if and $.Values.clients.enabled $isMGS -}}
{{- $_ := set $out "client" true -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- keys $out | sortAlpha | toJson -}}
{{- end -}}

{{/*
kube-lustre.metricsPort: dict root, component (drbd, client, target, pod) and
index (target: its position in targets) -> the port its metrics are served
on; nothing when metrics.enabled is false. targets[i] serves on
targetsFrom + i, so no two target pods claim one host port.
*/}}
{{- define "kube-lustre.metricsPort" -}}
{{- $m := .root.Values.metrics -}}
{{- if and .root.Values.enabled $m.enabled -}}
{{- if eq .component "target" -}}
{{- add $m.ports.targetsFrom .index -}}
{{- else -}}
{{- index $m.ports .component -}}
{{- end -}}
{{- end -}}
{{- end -}}
