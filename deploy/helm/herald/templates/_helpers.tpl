{{/*
Names and labels, the usual way: a release called "herald" gets objects
called "herald", any other release "<release>-herald".
*/}}
{{- define "herald.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "herald.fullname" -}}
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

{{- define "herald.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "herald.selectorLabels" -}}
app.kubernetes.io/name: {{ include "herald.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "herald.labels" -}}
helm.sh/chart: {{ include "herald.chart" . }}
{{ include "herald.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Where herald finds its files in the container. The mounts are siblings,
never nested: a volume mounted inside a read-only ConfigMap volume cannot
get its mount point.
*/}}
{{- define "herald.configDir" -}}/etc/herald/config{{- end }}
{{- define "herald.secretsDir" -}}/etc/herald/secrets{{- end }}
{{- define "herald.templatesDir" -}}/etc/herald/templates{{- end }}
{{- define "herald.dataDir" -}}/data{{- end }}

{{/* The Secret mounted at secretsDir: the user's, or the chart's. */}}
{{- define "herald.secretName" -}}
{{- .Values.secrets.existingSecret | default (include "herald.fullname" .) }}
{{- end }}

{{/* Whether a Secret is mounted at secretsDir at all. */}}
{{- define "herald.hasSecrets" -}}
{{- if or .Values.secrets.existingSecret .Values.secrets.values }}true{{ end }}
{{- end }}

{{/* The Secret and key holding the PostgreSQL DSN. */}}
{{- define "herald.postgresSecretName" -}}
{{- .Values.postgresql.existingSecret | default (printf "%s-postgresql" (include "herald.fullname" .)) }}
{{- end }}
{{- define "herald.postgresSecretKey" -}}
{{- if .Values.postgresql.existingSecret }}{{ .Values.postgresql.existingSecretKey }}{{ else }}postgres-dsn{{ end }}
{{- end }}

{{/*
herald.yaml: the user's config plus the keys the chart owns. The DSN stays
out of it: herald reads ${HERALD_STORE_DSN} from the environment, which the
Deployment fills from a Secret.
*/}}
{{- define "herald.config" -}}
{{- $cfg := deepCopy (.Values.config | default dict) }}
{{- range $key := list "listen" "store" "templates_dir" }}
{{- if hasKey $cfg $key }}
{{- fail (printf "herald: config.%s is set by the chart (containerPort, persistence or postgresql, templates); remove it from config" $key) }}
{{- end }}
{{- end }}
{{- $_ := set $cfg "listen" (printf "0.0.0.0:%d" (int .Values.containerPort)) }}
{{- if .Values.postgresql.enabled }}
{{- $_ := set $cfg "store" (dict "driver" "postgres" "dsn" "${HERALD_STORE_DSN}") }}
{{- else }}
{{- $_ := set $cfg "store" (dict "driver" "sqlite" "dsn" (printf "%s/herald.db" (include "herald.dataDir" .))) }}
{{- end }}
{{- if .Values.templates }}
{{- $_ := set $cfg "templates_dir" (include "herald.templatesDir" .) }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{/*
Refuse values that would give a herald that cannot start or would lose
messages, with a message saying what to set.
*/}}
{{- define "herald.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.postgresql.enabled) }}
{{- fail (printf "herald: replicaCount is %d, but SQLite serves one process only (herald locks its file): set postgresql.enabled=true with postgresql.dsn or postgresql.existingSecret, or replicaCount=1" (int .Values.replicaCount)) }}
{{- end }}
{{- if and .Values.postgresql.enabled (not .Values.postgresql.dsn) (not .Values.postgresql.existingSecret) }}
{{- fail "herald: postgresql.enabled needs postgresql.dsn or postgresql.existingSecret" }}
{{- end }}
{{- if not .Values.secrets.existingSecret }}
{{- $missing := list }}
{{- $prefix := printf "%s/" (include "herald.secretsDir" .) }}
{{- range $ref := regexFindAll (printf "%s[-._a-zA-Z0-9]+" (regexQuoteMeta $prefix)) (toYaml .Values.config) -1 | uniq }}
{{- $key := trimPrefix $prefix $ref }}
{{- if not (hasKey ($.Values.secrets.values | default dict) $key) }}
{{- $missing = append $missing $key }}
{{- end }}
{{- end }}
{{- if $missing }}
{{- fail (printf "herald: config reads %s from %s, but secrets.values has no such key: set secrets.values.<key> (helm --set-file) or secrets.existingSecret" (join ", " $missing) (include "herald.secretsDir" .)) }}
{{- end }}
{{- end }}
{{- end }}
