{{/* deploy/helm/bitmon/templates/_pod.tpl — the worker pool's pod template,
the same for a Deployment and a StatefulSet (workload.kind). */}}

{{- define "bitmon.podTemplate" -}}
metadata:
  labels:
    {{- include "bitmon.selectorLabels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
    {{- if not .Values.serviceMonitor.enabled }}
    prometheus.io/scrape: "true"
    prometheus.io/port: {{ .Values.http.port | quote }}
    prometheus.io/path: /metrics
    {{- end }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "bitmon.serviceAccountName" . }}
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    runAsNonRoot: true
    runAsUser: 10001
    runAsGroup: 10001
    fsGroup: 10001
    seccompProfile:
      type: RuntimeDefault
  {{- if .Values.topologySpread.enabled }}
  topologySpreadConstraints:
    {{- range .Values.topologySpread.topologyKeys }}
    - maxSkew: {{ $.Values.topologySpread.maxSkew }}
      topologyKey: {{ . }}
      whenUnsatisfiable: {{ $.Values.topologySpread.whenUnsatisfiable }}
      labelSelector:
        matchLabels:
          {{- include "bitmon.selectorLabels" $ | nindent 10 }}
    {{- end }}
  {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: bitmon
      image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args: ["run"]
      env:
        - name: BITMON_CONFIG
          value: /etc/bitmon/bitmon.conf
        - name: BITMON_WORKER_ID
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        # Secrets go through the environment, never args (visible on the node).
        - name: BITMON_REDIS_PASSWORD
          valueFrom:
            secretKeyRef:
              name: {{ .Values.redis.existingSecret }}
              key: {{ .Values.redis.passwordKey }}
              optional: true
        {{- if .Values.kafka.sasl.enabled }}
        - name: BITMON_KAFKA_SASL_PASSWORD
          valueFrom:
            secretKeyRef:
              name: {{ .Values.kafka.sasl.existingSecret }}
              key: {{ .Values.kafka.sasl.passwordKey }}
        {{- end }}
      ports:
        - name: http
          containerPort: {{ .Values.http.port }}
          protocol: TCP
        {{- if .Values.webhook.enabled }}
        - name: webhook
          containerPort: {{ .Values.webhook.port }}
          protocol: TCP
        {{- end }}
      # Up: the process serves HTTP and is not wedged. Failing it restarts
      # the pod, so it does not depend on Kafka, Redis or Bitrise.
      livenessProbe:
        httpGet:
          path: /healthz
          port: http
        periodSeconds: 10
        timeoutSeconds: 2
        failureThreshold: 3
      # Ready: connected and taking jobs (Redis down is degraded, still
      # ready). Not ready only takes the pod out of Services.
      readinessProbe:
        httpGet:
          path: /readyz
          port: http
        periodSeconds: 5
        timeoutSeconds: 2
        failureThreshold: 3
      # A slow start (first connection to Kafka): up to 60 s.
      startupProbe:
        httpGet:
          path: /healthz
          port: http
        periodSeconds: 2
        failureThreshold: 30
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities:
          drop: ["ALL"]
      volumeMounts:
        - name: config
          mountPath: /etc/bitmon
          readOnly: true
        # Whole directories (never subPath): Secret updates reach the pod
        # and bitmon sees rotated tokens without a restart.
        - name: tokens
          mountPath: /var/run/secrets/bitmon/tokens
          readOnly: true
        - name: keys
          mountPath: /var/run/secrets/bitmon/keys
          readOnly: true
        {{- if .Values.redis.tls.enabled }}
        - name: redis-tls
          mountPath: /var/run/secrets/bitmon/redis-tls
          readOnly: true
        {{- end }}
        {{- if .Values.kafka.caSecret }}
        - name: kafka-ca
          mountPath: /var/run/secrets/bitmon/kafka-ca
          readOnly: true
        {{- end }}
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: config
      configMap:
        name: {{ include "bitmon.fullname" . }}-config
    - name: tokens
      secret:
        secretName: {{ .Values.tokens.existingSecret }}
        defaultMode: 0440
    - name: keys
      secret:
        secretName: {{ .Values.keys.existingSecret }}
        defaultMode: 0440
    {{- if .Values.redis.tls.enabled }}
    - name: redis-tls
      secret:
        secretName: {{ .Values.redis.tls.existingSecret }}
        defaultMode: 0440
    {{- end }}
    {{- if .Values.kafka.caSecret }}
    - name: kafka-ca
      secret:
        secretName: {{ .Values.kafka.caSecret }}
        defaultMode: 0440
    {{- end }}
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
{{- end -}}
