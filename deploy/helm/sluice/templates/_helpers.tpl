{{/*
Names and labels. Standard Kubernetes labels on every object; the selector uses only the
name and the instance (they never change across upgrades).
*/}}
{{- define "sluice.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sluice.fullname" -}}
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

{{- define "sluice.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sluice.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sluice.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "sluice.labels" -}}
helm.sh/chart: {{ include "sluice.chart" . }}
{{ include "sluice.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sluice
{{- end }}

{{- define "sluice.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sluice.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "sluice.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* The Secret holding secretEnv, and the one holding the API token. */}}
{{- define "sluice.envSecretName" -}}
{{- printf "%s-env" (include "sluice.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sluice.authSecretName" -}}
{{- if .Values.auth.existingSecret }}
{{- .Values.auth.existingSecret }}
{{- else }}
{{- printf "%s-auth" (include "sluice.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "sluice.authSecretKey" -}}
{{- if .Values.auth.existingSecret }}
{{- required "auth.existingSecretKey is required with auth.existingSecret" .Values.auth.existingSecretKey }}
{{- else }}
{{- print "token" }}
{{- end }}
{{- end }}

{{/* Paths inside the container; the image (deploy/Dockerfile) uses the same ones. */}}
{{- define "sluice.dataDir" -}}/data{{- end }}
{{- define "sluice.pipelinesDir" -}}/etc/sluice/pipelines{{- end }}
{{- define "sluice.configFile" -}}/etc/sluice/config/sluice.yaml{{- end }}
{{- define "sluice.tokenFile" -}}/etc/sluice/auth/token{{- end }}

{{/*
The pipeline specs as ConfigMap data: "<name>.yaml" -> spec text. Object specs get
metadata.name from their key when they have none; a spec whose metadata.name differs from
its key is refused (the file name would lie about the pipeline it creates).
*/}}
{{- define "sluice.pipelinesData" -}}
{{- $data := dict }}
{{- range $name, $spec := .Values.pipelines }}
{{- if not (regexMatch "^[a-z0-9_.-]+$" $name) }}
{{- fail (printf "pipelines.%s: a pipeline name is lower-case letters, digits, '-', '_' and '.'" $name) }}
{{- end }}
{{- if kindIs "string" $spec }}
{{- $parsed := fromYaml $spec }}
{{- if hasKey $parsed "Error" }}
{{- fail (printf "pipelines.%s: not a YAML mapping: %s" $name $parsed.Error) }}
{{- end }}
{{- $md := default dict $parsed.metadata }}
{{- if ne (toString (default "" $md.name)) $name }}
{{- fail (printf "pipelines.%s: metadata.name in the spec text must be %q (got %q)" $name $name (toString (default "" $md.name))) }}
{{- end }}
{{- $_ := set $data (printf "%s.yaml" $name) $spec }}
{{- else if kindIs "map" $spec }}
{{- $s := deepCopy $spec }}
{{- $md := dict }}
{{- if hasKey $s "metadata" }}
{{- $md = $s.metadata }}
{{- end }}
{{- if not (kindIs "map" $md) }}
{{- fail (printf "pipelines.%s.metadata must be a mapping" $name) }}
{{- end }}
{{- if hasKey $md "name" }}
{{- if ne (toString $md.name) $name }}
{{- fail (printf "pipelines.%s: metadata.name must be %q (got %q)" $name $name (toString $md.name)) }}
{{- end }}
{{- else }}
{{- $_ := set $md "name" $name }}
{{- end }}
{{- $_ := set $s "metadata" $md }}
{{- $_ := set $data (printf "%s.yaml" $name) (printf "%s\n" (toYaml $s)) }}
{{- else }}
{{- fail (printf "pipelines.%s: a spec is a mapping or a string" $name) }}
{{- end }}
{{- end }}
{{- toYaml $data }}
{{- end }}

{{/* Checks on values that Kubernetes itself would not catch. */}}
{{- define "sluice.validate" -}}
{{- if ne (int .Values.replicaCount) 1 }}
{{- fail (printf "replicaCount must be 1 (got %v): every replica would run every pipeline of the release and a replication slot admits one reader; use one release per set of pipelines (see values.yaml)" .Values.replicaCount) }}
{{- end }}
{{- if le (int .Values.terminationGracePeriodSeconds) (int .Values.stopTimeoutSeconds) }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must exceed stopTimeoutSeconds (%v)" .Values.terminationGracePeriodSeconds .Values.stopTimeoutSeconds) }}
{{- end }}
{{- if or (lt (int .Values.stopTimeoutSeconds) 0) (gt (int .Values.stopTimeoutSeconds) 3600) }}
{{- fail "stopTimeoutSeconds must be 0..3600" }}
{{- end }}
{{- $port := int .Values.containerPort }}
{{- if or (lt $port 1) (gt $port 65535) }}
{{- fail (printf "containerPort must be 1..65535 (got %v)" .Values.containerPort) }}
{{- end }}
{{- if and .Values.auth.enabled (not .Values.auth.existingSecret) }}
{{- $_ := required "auth.token (or auth.existingSecret) is required when auth.enabled is true" .Values.auth.token }}
{{- end }}
{{- $cfg := default dict .Values.config }}
{{- range $k := list "listen" "data_dir" "pipelines" "auth_token_file" }}
{{- if hasKey $cfg $k }}
{{- fail (printf "config.%s is set by the chart (see values.yaml); remove it" $k) }}
{{- end }}
{{- end }}
{{- range $k, $_ := .Values.secretEnv }}
{{- if not (regexMatch "^[A-Za-z_][A-Za-z0-9_]*$" $k) }}
{{- fail (printf "secretEnv.%s: not a valid environment variable name" $k) }}
{{- end }}
{{- end }}
{{- range $k, $_ := .Values.env }}
{{- if not (regexMatch "^[A-Za-z_][A-Za-z0-9_]*$" $k) }}
{{- fail (printf "env.%s: not a valid environment variable name" $k) }}
{{- end }}
{{- end }}
{{- if .Values.podDisruptionBudget.enabled }}
{{- if not (or (include "sluice.isSet" .Values.podDisruptionBudget.maxUnavailable) (include "sluice.isSet" .Values.podDisruptionBudget.minAvailable)) }}
{{- fail "podDisruptionBudget: set minAvailable or maxUnavailable" }}
{{- end }}
{{- end }}
{{- end }}

{{/* "true" when a value is neither null nor "", else "" (for optional numbers). */}}
{{- define "sluice.isSet" -}}
{{- if not (kindIs "invalid" .) }}{{ if ne (toString .) "" }}true{{ end }}{{ end }}
{{- end }}

{{/*
A value as an environment string. Helm reads values.yaml numbers as float64, which print
as 1.048576e+06: whole numbers are printed as integers.
*/}}
{{- define "sluice.envString" -}}
{{- if and (kindIs "float64" .) (eq . (floor .)) }}{{ int64 . }}{{ else }}{{ toString . }}{{ end }}
{{- end }}
