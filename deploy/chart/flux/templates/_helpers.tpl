{{/* The chart's name. */}}
{{- define "flux.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The full name: the release's name when it contains the chart's, else <release>-<chart>, as Flux's chart. */}}
{{- define "flux.fullname" -}}
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

{{- define "flux.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "flux.labels" -}}
app: {{ include "flux.name" . }}
chart: {{ include "flux.chart" . }}
release: {{ .Release.Name }}
heritage: {{ .Release.Service }}
{{- end -}}

{{/* The ServiceAccount the pods run as. */}}
{{- define "flux.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "flux.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The deploy-key Secret's name. */}}
{{- define "flux.gitSecretName" -}}
{{- if .Values.git.secretName -}}
{{- .Values.git.secretName -}}
{{- else -}}
{{- printf "%s-git-deploy" (include "flux.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* The fluxd image. */}}
{{- define "flux.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion (toString .Values.image.tag)) -}}
{{- end -}}

{{/* The namespaces of the restricted mode: allowedNamespaces and the release's, without repeats. */}}
{{- define "flux.restrictedNamespaces" -}}
{{- $all := concat (.Values.allowedNamespaces | default list) (list .Release.Namespace) | uniq -}}
{{- join "," $all -}}
{{- end -}}

{{/* The namespaces fluxd's additionalArgs restrict it to (--k8s-allow-namespace or --k8s-namespace-whitelist), comma-separated. */}}
{{- define "flux.argNamespaces" -}}
{{- $found := list -}}
{{- range .Values.additionalArgs -}}
{{- $arg := toString . -}}
{{- range $prefix := list "--k8s-allow-namespace=" "--k8s-namespace-whitelist=" -}}
{{- if hasPrefix $prefix $arg -}}
{{- $found = concat $found (splitList "," (trimPrefix $prefix $arg)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- join "," ($found | uniq) -}}
{{- end -}}

{{/* The Helm operator's --allow-namespace, empty for all namespaces. */}}
{{- define "flux.operatorNamespaces" -}}
{{- if .Values.helmOperator.allowNamespace -}}
{{- .Values.helmOperator.allowNamespace -}}
{{- else if not .Values.clusterRole.create -}}
{{- include "flux.restrictedNamespaces" . -}}
{{- else -}}
{{- include "flux.argNamespaces" . -}}
{{- end -}}
{{- end -}}

{{/* The mounts both containers share: the deploy key, known_hosts, the state and /tmp. */}}
{{- define "flux.sharedVolumeMounts" -}}
- name: git-key
  mountPath: /etc/fluxd/ssh
  readOnly: true
- name: ssh-config
  mountPath: /etc/fluxd/ssh-config
  readOnly: true
- name: state
  mountPath: /var/fluxd/state
- name: tmp
  mountPath: /tmp
{{- end -}}

{{- define "flux.sharedVolumes" -}}
- name: git-key
  secret:
    secretName: {{ include "flux.gitSecretName" . }}
    defaultMode: 0400
- name: ssh-config
  configMap:
    name: {{ include "flux.fullname" . }}-ssh-config
- name: state
  emptyDir: {}
- name: tmp
  emptyDir: {}
{{- end -}}
