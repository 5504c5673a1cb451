{{/* deploy/helm/bitmon/templates/_helpers.tpl — names, labels, checks. */}}

{{- define "bitmon.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "bitmon.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "bitmon.labels" -}}
{{ include "bitmon.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: bitmon
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "bitmon.serviceAccountName" -}}
{{- default (include "bitmon.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* Pods that share the Bitrise budget: with Redis down each pod takes
budget.rate / this. With KEDA the most pods there can be, so the pool never
exceeds Bitrise's limit. */}}
{{- define "bitmon.expectedReplicas" -}}
{{- if .Values.keda.enabled -}}{{ .Values.keda.maxReplicaCount }}{{- else -}}{{ .Values.replicas }}{{- end -}}
{{- end -}}

{{/* The PromQL label matchers of this release's series (ServiceMonitor:
job is the Service's name). */}}
{{- define "bitmon.promSelector" -}}
job="{{ include "bitmon.fullname" . }}",namespace="{{ .Release.Namespace }}"
{{- end -}}

{{/* Values that cannot work together: fail the render. */}}
{{- define "bitmon.validate" -}}
{{- if not (has .Values.workload.kind (list "Deployment" "StatefulSet")) -}}
{{- fail (printf "workload.kind must be Deployment or StatefulSet, not %q" (toString .Values.workload.kind)) -}}
{{- end -}}
{{- if le (int .Values.terminationGracePeriodSeconds) (int .Values.shutdownTimeoutSeconds) -}}
{{- fail "terminationGracePeriodSeconds must be larger than shutdownTimeoutSeconds" -}}
{{- end -}}
{{- if .Values.keda.enabled -}}
{{- if gt (int .Values.keda.maxReplicaCount) (int .Values.topics.partitions) -}}
{{- fail "keda.maxReplicaCount must not exceed topics.partitions: pods beyond the partitions get no jobs" -}}
{{- end -}}
{{- if lt (int .Values.keda.maxReplicaCount) (int .Values.keda.minReplicaCount) -}}
{{- fail "keda.maxReplicaCount is below keda.minReplicaCount" -}}
{{- end -}}
{{- if le (int .Values.keda.scaleDownStabilizationSeconds) (int .Values.shutdownTimeoutSeconds) -}}
{{- fail "keda.scaleDownStabilizationSeconds must be longer than shutdownTimeoutSeconds" -}}
{{- end -}}
{{- end -}}
{{- if and .Values.redis.tls.certKey (not .Values.redis.tls.keyKey) -}}
{{- fail "redis.tls.certKey needs redis.tls.keyKey" -}}
{{- end -}}
{{- $managed := list "kafka.bootstrap.servers" "consumer.group" "topics.jobs" "topics.results" "topics.dlq" "topics.logs" "topics.partitions" "redis.host" "redis.port" "redis.user" "redis.tls" "redis.tls_ca_file" "redis.tls_cert_file" "redis.tls_key_file" "redis.tls_server_name" "tokens.store" "tokens.fingerprint_key_file" "cache.expected_replicas" "http.listen" "webhook.listen" "shutdown.timeout_s" "kafka.security.protocol" "kafka.sasl.mechanism" "kafka.sasl.username" "kafka.ssl.ca.location" -}}
{{- range $k, $v := .Values.config -}}
{{- if or (kindIs "map" $v) (kindIs "slice" $v) -}}
{{- fail (printf "config.%s is not a string, number or boolean: bitmon.conf keys are flat (`producer.exactly_once: true`; with --set escape the dots: config.producer\\.exactly_once=true)" $k) -}}
{{- end -}}
{{- if eq $k "worker.id" -}}
{{- fail "config.worker.id is set by the chart: BITMON_WORKER_ID is each pod's name, unique in the group" -}}
{{- end -}}
{{- if has $k $managed -}}
{{- fail (printf "config.%s is managed by the chart: set it through its own values section" $k) -}}
{{- end -}}
{{- if or (contains "password" $k) (contains "secret" $k) -}}
{{- fail (printf "config.%s looks like a secret: give it through a Secret (see values.yaml)" $k) -}}
{{- end -}}
{{- end -}}
{{- $eos := get (.Values.config | default dict) "producer.exactly_once" | toString | trim | trimAll "\"" | lower -}}
{{- if and (has $eos (list "true" "yes" "on" "1")) (ne .Values.workload.kind "StatefulSet") -}}
{{- fail "config.producer.exactly_once needs workload.kind=StatefulSet: the transactional.id is bitmon/<consumer.group>/<worker.id> and worker.id is the pod name, which only a StatefulSet keeps for the pod that replaces another; under a Deployment the new pod cannot fence its predecessor, whose open transaction holds read_committed readers until producer.txn_timeout_ms" -}}
{{- end -}}
{{- end -}}

{{- define "bitmon.validateWebhook" -}}
{{- if and .Values.webhook.enabled .Values.webhook.ingress.enabled (not .Values.webhook.service.enabled) -}}
{{- fail "webhook.ingress needs webhook.service.enabled" -}}
{{- end -}}
{{- end -}}
