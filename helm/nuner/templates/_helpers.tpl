{{- define "nuner.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "nuner.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "nuner.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "nuner.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "nuner.selector" -}}
app.kubernetes.io/name: {{ include "nuner.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "nuner.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "nuner.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository:TAG-ROLE, or repository@DIGEST when image.digests.ROLE is set */}}
{{- define "nuner.image" -}}
{{- $digest := get (default dict .root.Values.image.digests) .suffix -}}
{{- if $digest }}
{{- printf "%s@%s" .root.Values.image.repository $digest }}
{{- else }}
{{- $tag := default .root.Chart.AppVersion .root.Values.image.tag -}}
{{- printf "%s:%s-%s" .root.Values.image.repository $tag .suffix }}
{{- end }}
{{- end }}

{{- define "nuner.databaseSecretName" -}}
{{- default (printf "%s-db" (include "nuner.fullname" .)) .Values.database.existingSecret }}
{{- end }}

{{- define "nuner.bundlesClaim" -}}
{{- if .Values.bundles.persistence.existingClaim }}
{{- .Values.bundles.persistence.existingClaim }}
{{- else }}
{{- printf "%s-bundles" (include "nuner.fullname" .) }}
{{- end }}
{{- end }}

{{/* Environment shared by API, worker and migration pods. */}}
{{- define "nuner.env" -}}
- name: NUNER_SECRETS_DIR   # the database URL is a file there, not an env variable
  value: /var/run/secrets/nuner
- name: HOME
  value: /tmp
{{- end }}

{{- define "nuner.envFrom" -}}
- configMapRef:
    name: {{ include "nuner.fullname" . }}
{{- if or .Values.secretEnv .Values.existingSecretEnv }}
- secretRef:
    name: {{ default (printf "%s-env" (include "nuner.fullname" .)) .Values.existingSecretEnv }}
{{- end }}
{{- end }}

{{- define "nuner.volumes" -}}
- name: bundles
{{- if or .Values.bundles.persistence.enabled .Values.bundles.s3.enabled }}
  persistentVolumeClaim:
    claimName: {{ include "nuner.bundlesClaim" . }}
{{- else }}
  emptyDir: {}
{{- end }}
- name: tmp
  emptyDir: {}
- name: cache
  emptyDir: {}
{{ include "nuner.secretVolume" . }}
{{- end }}

{{/* One directory of secret files (NUNER_SECRETS_DIR): database URL and API keys. */}}
{{- define "nuner.secretVolume" -}}
- name: database
  projected:
    defaultMode: 0440
    sources:
      - secret:
          name: {{ include "nuner.databaseSecretName" . }}
          items:
            - key: {{ .Values.database.existingSecretKey }}
              path: nuner_database_url
      {{- if .Values.auth.enabled }}
      - secret:
          name: {{ include "nuner.fullname" . }}-api-keys
          items:
            - key: nuner_api_keys
              path: nuner_api_keys
      {{- end }}
{{- end }}

{{- define "nuner.volumeMounts" -}}
- name: bundles
  mountPath: {{ .Values.bundles.mountPath }}
- name: tmp
  mountPath: /tmp
- name: cache
  mountPath: /home/nuner/.cache
- name: database
  mountPath: /var/run/secrets/nuner
  readOnly: true
{{- end }}

{{- define "nuner.topologySpread" -}}
{{- if .Values.api.topologySpreadConstraints }}
{{- toYaml .Values.api.topologySpreadConstraints }}
{{- else }}
- maxSkew: 1
  topologyKey: kubernetes.io/hostname
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "nuner.selector" (dict "root" . "component" "api") | nindent 6 }}
- maxSkew: 1
  topologyKey: topology.kubernetes.io/zone
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "nuner.selector" (dict "root" . "component" "api") | nindent 6 }}
{{- end }}
{{- end }}
