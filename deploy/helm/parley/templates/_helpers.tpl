{{/* The chart's name, and the release's full name (at most 63 characters, as Kubernetes names allow). */}}
{{- define "parley.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "parley.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "parley.selectorLabels" -}}
app.kubernetes.io/name: {{ include "parley.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "parley.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "parley.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "parley.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{- define "parley.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "parley.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{/* The Secret the pods read their secret settings from: yours, the ExternalSecret's target, or the chart's. */}}
{{- define "parley.secretName" -}}
{{- .Values.secrets.existingSecret | default (include "parley.fullname" .) -}}
{{- end -}}

{{/* The chart makes its own Secret only when none comes from elsewhere. */}}
{{- define "parley.chartSecret" -}}
{{- if and (not .Values.secrets.existingSecret) (not .Values.externalSecrets.enabled) -}}true{{- end -}}
{{- end -}}

{{/* Seconds Kubernetes waits between the start of a pod's termination and SIGKILL. */}}
{{- define "parley.terminationGracePeriod" -}}
{{- add .Values.drain.preStopSeconds .Values.drain.drainTimeoutSeconds .Values.drain.shutdownTimeoutSeconds .Values.drain.marginSeconds -}}
{{- end -}}

{{/* The secret environment variables the chart's Secret holds (key: value), from values. */}}
{{- define "parley.secretData" -}}
DATABASE_URL: {{ required "database.url is required (an external PostgreSQL with pgvector), or use secrets.existingSecret / externalSecrets" .Values.database.url | quote }}
REDIS_URL: {{ required "redis.url is required: Parley's replicas share limits, replay and stop signals through Redis" .Values.redis.url | quote }}
PARLEY_AUTH__JWT_SECRET: {{ required "auth.jwtSecret is required (at least 32 random characters, the same for every replica)" .Values.auth.jwtSecret | quote }}
{{- if eq .Values.crypto.provider "local" }}
PARLEY_CRYPTO__KEYS: {{ required "crypto.keys is required with crypto.provider local: run `parley keys generate` and keep its output (a pod's data dir does not last)" .Values.crypto.keys | quote }}
{{- end }}
{{- with .Values.database.readUrl }}
DATABASE_READ_URL: {{ . | quote }}
{{- end }}
{{- with .Values.rabbitmq.url }}
RABBITMQ_URL: {{ . | quote }}
{{- end }}
{{- with .Values.s3.accessKeyId }}
PARLEY_S3__ACCESS_KEY_ID: {{ . | quote }}
{{- end }}
{{- with .Values.s3.secretAccessKey }}
PARLEY_S3__SECRET_ACCESS_KEY: {{ . | quote }}
{{- end }}
{{- with .Values.auth.adminPassword }}
PARLEY_ADMIN_PASSWORD: {{ . | quote }}
{{- end }}
{{- range $name, $value := .Values.secrets.extra }}
{{ $name }}: {{ $value | quote }}
{{- end }}
{{- end -}}
