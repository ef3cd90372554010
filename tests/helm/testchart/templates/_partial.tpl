{{- define "probe.pair" -}}
{{ .k }}: {{ .v | quote }}
{{- end }}
