{{/*
The pod template shared by the Deployment (persistence off) and the StatefulSet
(persistence on). The checksum annotations make `helm upgrade` restart the pod when a
pipeline spec, the config file or a chart-managed secret changes: env values and the
pipelines dir are read at startup only.
*/}}
{{- define "sluice.podTemplate" -}}
metadata:
  labels:
    {{- include "sluice.labels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/pipelines: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
    checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "sluice.serviceAccountName" . }}
  automountServiceAccountToken: {{ .Values.automountServiceAccountToken }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  # No FOO_SERVICE_HOST variables: the environment is for the specs' ${VAR}s.
  enableServiceLinks: false
  terminationGracePeriodSeconds: {{ int .Values.terminationGracePeriodSeconds }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  containers:
    - name: sluice
      image: {{ include "sluice.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      command:
        - /usr/local/bin/sluice
        - serve
      args:
        - --listen
        - {{ printf "0.0.0.0:%d" (int .Values.containerPort) | quote }}
        - --data-dir
        - {{ include "sluice.dataDir" . }}
        - --pipelines
        - {{ include "sluice.pipelinesDir" . }}
        - --log-level
        - {{ .Values.logLevel | quote }}
        - --log-format
        - {{ .Values.logFormat | quote }}
        {{- if .Values.config }}
        - --config
        - {{ include "sluice.configFile" . }}
        {{- end }}
        {{- if .Values.auth.enabled }}
        - --auth-token-file
        - {{ include "sluice.tokenFile" . }}
        {{- end }}
      ports:
        - name: http
          containerPort: {{ int .Values.containerPort }}
          protocol: TCP
      env:
        - name: SLUICE_STOP_TIMEOUT
          value: {{ int .Values.stopTimeoutSeconds | quote }}
        {{- range $k, $v := .Values.env }}
        - name: {{ $k }}
          value: {{ include "sluice.envString" $v | quote }}
        {{- end }}
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- if or .Values.secretEnv .Values.existingSecret .Values.extraEnvFrom }}
      envFrom:
        {{- if .Values.secretEnv }}
        - secretRef:
            name: {{ include "sluice.envSecretName" . }}
        {{- end }}
        {{- if .Values.existingSecret }}
        - secretRef:
            name: {{ .Values.existingSecret }}
        {{- end }}
        {{- with .Values.extraEnvFrom }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- end }}
      # Liveness: the process serves HTTP. Readiness: every pipeline that should run is
      # running and connected (503 with a reason per pipeline otherwise).
      startupProbe:
        httpGet:
          path: /healthz
          port: http
        periodSeconds: {{ .Values.startupProbe.periodSeconds }}
        timeoutSeconds: {{ .Values.startupProbe.timeoutSeconds }}
        failureThreshold: {{ .Values.startupProbe.failureThreshold }}
      livenessProbe:
        httpGet:
          path: /healthz
          port: http
        periodSeconds: {{ .Values.livenessProbe.periodSeconds }}
        timeoutSeconds: {{ .Values.livenessProbe.timeoutSeconds }}
        failureThreshold: {{ .Values.livenessProbe.failureThreshold }}
      readinessProbe:
        httpGet:
          path: /readyz
          port: http
        periodSeconds: {{ .Values.readinessProbe.periodSeconds }}
        timeoutSeconds: {{ .Values.readinessProbe.timeoutSeconds }}
        failureThreshold: {{ .Values.readinessProbe.failureThreshold }}
      {{- with .Values.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: data
          mountPath: {{ include "sluice.dataDir" . }}
        - name: pipelines
          mountPath: {{ include "sluice.pipelinesDir" . }}
          readOnly: true
        - name: tmp
          mountPath: /tmp
        {{- if .Values.config }}
        - name: config
          mountPath: {{ include "sluice.configFile" . | dir }}
          readOnly: true
        {{- end }}
        {{- if .Values.auth.enabled }}
        - name: auth
          mountPath: {{ include "sluice.tokenFile" . | dir }}
          readOnly: true
        {{- end }}
        {{- with .Values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    {{- if not .Values.persistence.enabled }}
    # persistence.enabled=false: /data lives as long as the pod (see values.yaml).
    - name: data
      emptyDir: {}
    {{- else if .Values.persistence.existingClaim }}
    - name: data
      persistentVolumeClaim:
        claimName: {{ .Values.persistence.existingClaim }}
    {{- end }}
    - name: pipelines
      configMap:
        name: {{ printf "%s-pipelines" (include "sluice.fullname" .) | trunc 63 | trimSuffix "-" }}
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
    {{- if .Values.config }}
    - name: config
      configMap:
        name: {{ printf "%s-config" (include "sluice.fullname" .) | trunc 63 | trimSuffix "-" }}
    {{- end }}
    {{- if .Values.auth.enabled }}
    - name: auth
      secret:
        secretName: {{ include "sluice.authSecretName" . }}
        defaultMode: 288  # 0440: readable by the fsGroup the container runs with
        items:
          - key: {{ include "sluice.authSecretKey" . }}
            path: {{ include "sluice.tokenFile" . | base }}
    {{- end }}
    {{- with .Values.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
