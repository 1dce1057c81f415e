{{/*
Shared blocks. Per-service templates call them with a dict:
  root  the chart's root context ($)
  name  the service name (gateway, segmentation, style, translation, compositing)
  svc   that service's values block (.Values.services.<name>)
*/}}

{{- define "fittingroom.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Name of one service's objects: <fullname>-<service>. */}}
{{- define "fittingroom.component" -}}
{{- printf "%s-%s" (include "fittingroom.fullname" .root) .name -}}
{{- end -}}

{{- define "fittingroom.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: fittingroom
{{- end -}}

{{- define "fittingroom.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "fittingroom.componentLabels" -}}
{{ include "fittingroom.labels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{/* Standard metadata of a per-service object. */}}
{{- define "fittingroom.metadata" -}}
name: {{ include "fittingroom.component" . }}
namespace: {{ .root.Release.Namespace }}
labels:
  {{- include "fittingroom.componentLabels" . | nindent 2 }}
{{- end -}}

{{/* "true" when the service runs on a GPU (only model services have a gpu block). */}}
{{- define "fittingroom.gpu" -}}
{{- if and .svc.gpu .svc.gpu.enabled -}}true{{- end -}}
{{- end -}}

{{/* <registry>/<repository>:<tag>; a service's own image.tag is used as it is (skaffold sets it). */}}
{{- define "fittingroom.image" -}}
{{- $tag := .svc.image.tag -}}
{{- if not $tag -}}
{{- $tag = .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- if .svc.gpu -}}
{{- $tag = printf "%s-%s" $tag (ternary "cuda" "cpu" (eq (include "fittingroom.gpu" .) "true")) -}}
{{- end -}}
{{- end -}}
{{- $registry := .root.Values.image.registry | trimSuffix "/" -}}
{{- printf "%s%s:%s" (ternary (printf "%s/" $registry) "" (ne $registry "")) .svc.image.repository $tag -}}
{{- end -}}

{{- define "fittingroom.consumerGroup" -}}
{{- printf "%s-%s" .root.Values.kafka.groupPrefix .name -}}
{{- end -}}

{{- define "fittingroom.s3SecretName" -}}
{{- .Values.s3.existingSecret | default (printf "%s-s3" (include "fittingroom.fullname" .)) -}}
{{- end -}}

{{/* Key of one service's access key (.field "accessKeyKey") or secret key in the S3 Secret: <service>-<key>. */}}
{{- define "fittingroom.s3Key" -}}
{{- printf "%s-%s" .name (get .root.Values.s3 .field) -}}
{{- end -}}

{{/* One service's own MinIO pair as <prefix> (FITTINGROOM_S3_ACCESS_KEY…) and <prefix + suffix>. */}}
{{- define "fittingroom.s3ServiceKeys" -}}
{{- $secret := include "fittingroom.s3SecretName" .root }}
- name: FITTINGROOM_S3_ACCESS_KEY{{ .suffix }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ include "fittingroom.s3Key" (dict "root" .root "name" .name "field" "accessKeyKey") }}
- name: FITTINGROOM_S3_SECRET_KEY{{ .suffix }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ include "fittingroom.s3Key" (dict "root" .root "name" .name "field" "secretKeyKey") }}
{{- end -}}

{{/* FITTINGROOM_* variables for Kafka and MinIO (no keys), shared by services and the provisioning Job. */}}
{{- define "fittingroom.connectionEnv" -}}
{{- if .Values.kafka.existingSecret }}
- name: FITTINGROOM_KAFKA_BOOTSTRAP
  valueFrom:
    secretKeyRef:
      name: {{ .Values.kafka.existingSecret }}
      key: {{ .Values.kafka.bootstrapKey }}
{{- else }}
- name: FITTINGROOM_KAFKA_BOOTSTRAP
  value: {{ .Values.kafka.bootstrap | quote }}
{{- end }}
- name: FITTINGROOM_KAFKA_GROUP_PREFIX
  value: {{ .Values.kafka.groupPrefix | quote }}
- name: FITTINGROOM_S3_ENDPOINT
  value: {{ .Values.s3.endpoint | quote }}
- name: FITTINGROOM_S3_SECURE
  value: {{ .Values.s3.secure | quote }}
- name: FITTINGROOM_REQUESTS_BUCKET
  value: {{ .Values.s3.requestsBucket | quote }}
- name: FITTINGROOM_MODELS_BUCKET
  value: {{ .Values.s3.modelsBucket | quote }}
{{- end -}}

{{/* Where every pod mounts the CA of the Kafka brokers (kafka.caSecret). */}}
{{- define "fittingroom.kafkaCaMountPath" -}}/etc/fittingroom/kafka-ca{{- end -}}

{{/* Whether Kafka clients authenticate with a SCRAM user; refuses SASL_SSL without the users' Secret. */}}
{{- define "fittingroom.kafkaSasl" -}}
{{- $protocol := .Values.kafka.securityProtocol -}}
{{- if not (has $protocol (list "SASL_SSL" "SSL" "PLAINTEXT")) -}}
{{- fail (printf "kafka.securityProtocol %q: expected SASL_SSL, SSL or PLAINTEXT" $protocol) -}}
{{- end -}}
{{- if eq $protocol "SASL_SSL" -}}
{{- $_ := required "kafka.usersSecret is required with kafka.securityProtocol SASL_SSL: an existing Secret with a SCRAM password per principal (the chart makes none)" .Values.kafka.usersSecret -}}true
{{- end -}}
{{- end -}}

{{/* Whether the KEDA scalers need a TriggerAuthentication (a SCRAM user or the brokers' CA). */}}
{{- define "fittingroom.kedaAuth" -}}
{{- if or (include "fittingroom.kafkaSasl" .) .Values.kafka.caSecret -}}true{{- end -}}
{{- end -}}

{{/* FITTINGROOM_KAFKA_* security variables of one principal (dict "root" $ "principal" name). */}}
{{- define "fittingroom.kafkaSecurityEnv" -}}
{{- $kafka := .root.Values.kafka -}}
- name: FITTINGROOM_KAFKA_SECURITY_PROTOCOL
  value: {{ $kafka.securityProtocol | quote }}
{{- if include "fittingroom.kafkaSasl" .root }}
- name: FITTINGROOM_KAFKA_SASL_MECHANISM
  value: {{ $kafka.saslMechanism | quote }}
- name: FITTINGROOM_KAFKA_USERNAME
  value: {{ required (printf "kafka.usernames.%s is required" .principal) (get $kafka.usernames .principal) | quote }}
- name: FITTINGROOM_KAFKA_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $kafka.usersSecret }}
      key: {{ .principal }}
{{- end }}
{{- if $kafka.caSecret }}
- name: FITTINGROOM_KAFKA_CA
  value: {{ printf "%s/%s" (include "fittingroom.kafkaCaMountPath" .root) $kafka.caKey | quote }}
{{- end }}
{{- end -}}

{{/* service=username pairs of the services' principals, for provisioning's ACLs (FITTINGROOM_KAFKA_SERVICE_USERS). */}}
{{- define "fittingroom.kafkaServiceUsers" -}}
{{- $pairs := list -}}
{{- range $name, $_ := .Values.services -}}
{{- $pairs = append $pairs (printf "%s=%s" $name (get $.Values.kafka.usernames $name)) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}

{{/* The volumeMount and volume of the Kafka brokers' CA, when kafka.caSecret is set. */}}
{{- define "fittingroom.kafkaCaMount" -}}
{{- if .Values.kafka.caSecret }}
- name: kafka-ca
  mountPath: {{ include "fittingroom.kafkaCaMountPath" . }}
  readOnly: true
{{- end }}
{{- end -}}

{{- define "fittingroom.kafkaCaVolume" -}}
{{- if .Values.kafka.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ .Values.kafka.caSecret }}
    defaultMode: 0440
{{- end }}
{{- end -}}

{{/* Where every pod mounts its TLS files (tls.crt, tls.key, ca.crt). */}}
{{/* Services that run models (segmentation, style, translation): those with a gpu block. */}}
{{- define "fittingroom.runsModels" -}}
{{- if hasKey .svc "gpu" -}}true{{- end -}}
{{- end -}}

{{- define "fittingroom.modelRefsMountPath" -}}/etc/fittingroom/models{{- end -}}

{{- define "fittingroom.apiKeysMountPath" -}}/etc/fittingroom/api-keys{{- end -}}

{{- define "fittingroom.tlsMountPath" -}}/etc/fittingroom/tls{{- end -}}

{{/* Where the TLS files come from: "existingSecret", "certManager" or "" (TLS off); refuses an unusable choice. */}}
{{- define "fittingroom.tlsSource" -}}
{{- $tls := .Values.tls -}}
{{- if $tls.enabled -}}
{{- if and $tls.existingSecret $tls.certManager.enabled -}}
{{- fail "tls: set either tls.existingSecret or tls.certManager.enabled, not both" -}}
{{- else if $tls.existingSecret -}}existingSecret
{{- else if $tls.certManager.enabled -}}
{{- $_ := required "tls.certManager.issuerRef.name is required with tls.certManager.enabled" $tls.certManager.issuerRef.name -}}certManager
{{- else -}}
{{- fail "tls.enabled needs tls.existingSecret or tls.certManager.enabled (with tls.certManager.issuerRef.name)" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The Secret one service's TLS files are mounted from. */}}
{{- define "fittingroom.tlsSecretName" -}}
{{- .root.Values.tls.existingSecret | default (printf "%s-tls" (include "fittingroom.component" .)) -}}
{{- end -}}

{{/* FITTINGROOM_TLS_* variables: the mounted files, or explicit plaintext. */}}
{{- define "fittingroom.tlsEnv" -}}
{{- if include "fittingroom.tlsSource" . }}
{{- $dir := include "fittingroom.tlsMountPath" . }}
- name: FITTINGROOM_TLS_CERT
  value: {{ printf "%s/tls.crt" $dir | quote }}
- name: FITTINGROOM_TLS_KEY
  value: {{ printf "%s/tls.key" $dir | quote }}
- name: FITTINGROOM_TLS_CA
  value: {{ printf "%s/ca.crt" $dir | quote }}
{{- else }}
- name: FITTINGROOM_TLS_PLAINTEXT
  value: "true"
{{- end }}
{{- end -}}

{{/* A service's thread pools (its threads block): torch's count also sizes OpenMP and MKL,
     which read their variables at start, before the settings pin torch. */}}
{{- define "fittingroom.threadsEnv" -}}
{{- if hasKey . "torch" }}
- name: FITTINGROOM_TORCH_THREADS
  value: {{ .torch | quote }}
- name: OMP_NUM_THREADS
  value: {{ .torch | quote }}
- name: MKL_NUM_THREADS
  value: {{ .torch | quote }}
{{- end }}
{{- if hasKey . "torchInterop" }}
- name: FITTINGROOM_TORCH_INTEROP_THREADS
  value: {{ .torchInterop | quote }}
{{- end }}
{{- if hasKey . "opencv" }}
- name: FITTINGROOM_OPENCV_THREADS
  value: {{ .opencv | quote }}
{{- end }}
- name: FITTINGROOM_GRPC_WORKERS
  value: {{ .grpcWorkers | quote }}
{{- end -}}

{{/* Every FITTINGROOM_* variable of one service's container. */}}
{{- define "fittingroom.serviceEnv" -}}
{{ include "fittingroom.connectionEnv" .root | trim }}
{{ include "fittingroom.s3ServiceKeys" (dict "root" .root "name" .name "suffix" "") | trim }}
{{ include "fittingroom.kafkaSecurityEnv" (dict "root" .root "principal" .name) | trim }}
- name: FITTINGROOM_GRPC_PORT
  value: {{ .svc.grpcPort | quote }}
- name: FITTINGROOM_METRICS_PORT
  value: {{ .svc.metricsPort | quote }}
- name: FITTINGROOM_ENABLE_WORKER
  value: {{ .svc.worker.enabled | quote }}
- name: FITTINGROOM_DRAIN_SECONDS
  value: {{ .svc.drainSeconds | quote }}
- name: FITTINGROOM_DEVICE
  value: {{ ternary "cuda" "cpu" (eq (include "fittingroom.gpu" .) "true") | quote }}
- name: FITTINGROOM_GRPC_REFLECTION
  value: {{ .root.Values.grpc.reflection | quote }}
{{ include "fittingroom.tlsEnv" .root | trim }}
{{- if include "fittingroom.tlsSource" .root }}
- name: FITTINGROOM_HEALTH_PORT
  value: {{ include "fittingroom.probePort" . | quote }}
{{- end }}
{{- if include "fittingroom.runsModels" . }}
- name: FITTINGROOM_MODEL_REFS_DIR
  value: {{ include "fittingroom.modelRefsMountPath" .root | quote }}
- name: FITTINGROOM_MODEL_POLL_S
  value: {{ .root.Values.models.pollSeconds | quote }}
{{- end }}
{{- if eq .name "gateway" }}
{{- if .root.Values.apiKeys.existingSecret }}
- name: FITTINGROOM_API_KEYS_FILE
  value: {{ printf "%s/%s" (include "fittingroom.apiKeysMountPath" .root) .root.Values.apiKeys.key | quote }}
{{- else if .root.Values.apiKeys.allowAnonymous }}
- name: FITTINGROOM_ALLOW_ANONYMOUS
  value: "true"
{{- end }}
{{- range $stage := list "segmentation" "style" "translation" "compositing" }}
- name: FITTINGROOM_{{ upper $stage }}_ADDRESS
  value: {{ printf "dns:///%s-headless:%v" (include "fittingroom.component" (dict "root" $.root "name" $stage)) (get $.root.Values.services $stage).grpcPort | quote }}
{{- end }}
{{- end }}
{{ include "fittingroom.threadsEnv" .svc.threads | trim }}
{{- range $key, $value := .svc.env }}
- name: {{ $key }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{- define "fittingroom.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
fsGroup: {{ .Values.securityContext.runAsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "fittingroom.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* Writable /tmp for a read-only root filesystem. */}}
{{- define "fittingroom.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.securityContext.tmpSizeLimit }}
{{- end -}}

{{/* A gRPC-native probe on the standard health service (NOT_SERVING until models load). */}}
{{/* Port the kubelet probes: the gRPC port, or with TLS (which the kubelet's gRPC probe
cannot speak) the service's plaintext health-only port, gRPC port + 2000. */}}
{{- define "fittingroom.probePort" -}}
{{- if include "fittingroom.tlsSource" .root -}}{{ add .svc.grpcPort 2000 }}{{- else -}}{{ .svc.grpcPort }}{{- end -}}
{{- end -}}

{{- define "fittingroom.grpcProbe" -}}
grpc:
  port: {{ .port }}
periodSeconds: {{ .period }}
failureThreshold: {{ .failures }}
timeoutSeconds: 3
{{- end -}}

{{/* pod spec fields that place a service: the GPU pool's when it runs on a GPU. */}}
{{- define "fittingroom.placement" -}}
{{- $pool := ternary .svc.gpu .svc (eq (include "fittingroom.gpu" .) "true") -}}
{{- with $pool.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $pool.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $pool.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Limits and requests, plus nvidia.com/gpu on GPU services. */}}
{{- define "fittingroom.resources" -}}
{{- $resources := deepCopy .svc.resources -}}
{{- if eq (include "fittingroom.gpu" .) "true" -}}
{{- $limits := get $resources "limits" | default dict -}}
{{- $_ := set $limits "nvidia.com/gpu" .svc.gpu.count -}}
{{- $_ := set $resources "limits" $limits -}}
{{- end -}}
{{- toYaml $resources -}}
{{- end -}}

{{/* The autoscaler a service gets: "keda", "hpa" or "" (fixed replicas). */}}
{{- define "fittingroom.autoscaler" -}}
{{- if .svc.autoscaling.enabled -}}
{{- if and .root.Values.keda.enabled .svc.worker.enabled .svc.worker.inputTopic -}}keda{{- else -}}hpa{{- end -}}
{{- end -}}
{{- end -}}
