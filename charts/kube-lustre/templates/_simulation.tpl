{{/*
Simulated hosts: kube-lustre's own test clusters only (testing.hostsimDir).

Every host step of the binaries (nsenter into PID 1's namespaces, modprobe,
zpool, drbdadm, mount, ...) runs against the simulated hosts in that host
directory instead of the real host (internal/entry/hostsim.go). This file
holds everything the chart renders differently for them; no other template
reads testing.hostsimDir. The other templates ask here:

  kube-lustre.simulated          is this a test cluster? (hostPodSpec: no
                                 host-lib mount; test-mounted.yaml: which
                                 test container)
  kube-lustre.sim.env            the env entry of a container acting on the host
  kube-lustre.sim.volumeMounts   its mounts
  kube-lustre.sim.volumes        the pod's volumes for them
  kube-lustre.sim.testContainer  the helm test container, asking the
  kube-lustre.sim.testVolumes    simulated client host

Each renders nothing on a real cluster.
*/}}

{{/* kube-lustre.simulated: root -> "true" on a test cluster (simulated hosts), else "". */}}
{{- define "kube-lustre.simulated" -}}
{{- if .Values.testing.hostsimDir -}}true{{- end -}}
{{- end -}}

{{/* kube-lustre.sim.env: root -> KUBE_LUSTRE_HOSTSIM (an entry ending in a newline), or nothing. */}}
{{- define "kube-lustre.sim.env" -}}
{{- if include "kube-lustre.simulated" . -}}
- name: KUBE_LUSTRE_HOSTSIM
  value: /hostsim
{{ end -}}
{{- end -}}

{{/*
kube-lustre.sim.volumeMounts: dict root, kubeletDir (optional: the CSI node
plugin's) -> the simulated hosts' mount, or nothing. The CSI node plugin's
bind mount is simulated too, so it also makes the real directory the
container runtime bind-mounts into the pod: it mounts the kubelet's pods/.
*/}}
{{- define "kube-lustre.sim.volumeMounts" -}}
{{- if include "kube-lustre.simulated" .root -}}
- {name: hostsim, mountPath: /hostsim}
{{- with index . "kubeletDir" }}
- {name: kubelet-pods, mountPath: {{ . }}/pods}
{{- end }}
{{- end -}}
{{- end -}}

{{/*
kube-lustre.sim.volumes: dict root, kubeletDir (optional) -> the volumes of
kube-lustre.sim.volumeMounts, or nothing.
*/}}
{{- define "kube-lustre.sim.volumes" -}}
{{- if include "kube-lustre.simulated" .root -}}
{{- with index . "kubeletDir" -}}
- name: kubelet-pods
  hostPath: {path: {{ . }}/pods, type: Directory}
{{ end -}}
- name: hostsim
  hostPath: {path: {{ .root.Values.testing.hostsimDir }}, type: Directory}
{{- end -}}
{{- end -}}

{{/*
kube-lustre.sim.testContainer: root -> the helm test container's env,
securityContext and mounts: it asks the simulated client host, whose state
files are root's.
*/}}
{{- define "kube-lustre.sim.testContainer" -}}
env:
  {{- include "kube-lustre.env" (dict "root" . "host" true) | nindent 2 }}
securityContext: {runAsUser: 0}
volumeMounts:
  - {name: hostsim, mountPath: /hostsim}
  - {name: topology, mountPath: /etc/kube-lustre, readOnly: true}
{{- end -}}

{{/* kube-lustre.sim.testVolumes: root -> the helm test pod's volumes. */}}
{{- define "kube-lustre.sim.testVolumes" -}}
{{ include "kube-lustre.sim.volumes" (dict "root" .) }}
- name: topology
  configMap: {name: {{ include "kube-lustre.suffixed" (dict "root" . "suffix" "topology") }}}
{{- end -}}
