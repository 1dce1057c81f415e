{{/* <release>-fittingroom-training, unless the release name holds the chart name. */}}
{{- define "training.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Name of one model's job (and its rendezvous Service): <fullname>-<model>. */}}
{{- define "training.jobName" -}}
{{- printf "%s-%s" (include "training.fullname" .root) .model -}}
{{- end -}}

{{- define "training.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: fittingroom
app.kubernetes.io/component: {{ .model }}
{{- end -}}

{{- define "training.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .model }}
{{- end -}}

{{/* "pytorchjob" or "indexedjob": values.engine, with auto following the cluster's APIs. */}}
{{- define "training.engine" -}}
{{- $engine := .Values.engine -}}
{{- if eq $engine "auto" -}}
{{- ternary "pytorchjob" "indexedjob" (.Capabilities.APIVersions.Has "kubeflow.org/v1/PyTorchJob") -}}
{{- else if has $engine (list "pytorchjob" "indexedjob") -}}
{{- $engine -}}
{{- else -}}
{{- fail (printf "engine must be auto, pytorchjob or indexedjob, not %q" $engine) -}}
{{- end -}}
{{- end -}}

{{- define "training.image" -}}
{{- $image := .root.Values.image -}}
{{- $tag := $image.tag | default (printf "%s-%s" .root.Chart.AppVersion (ternary "cuda" "cpu" .job.gpu.enabled)) -}}
{{- if $image.registry -}}
{{- printf "%s/%s:%s" $image.registry $image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" $image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* One node's training pod: pull the data, then torchrun the trainer; rank 0 registers the model.
     The node's rank is NODE_RANK (indexed Job) or RANK (set by the PyTorchJob operator on each pod);
     MASTER_ADDR and MASTER_PORT likewise. */}}
{{- define "training.podSpec" -}}
{{- $job := .job -}}
{{- $root := .root -}}
{{- $secret := required "s3.existingSecret: a Secret with keys that may read the data and write the models bucket" $root.Values.s3.existingSecret -}}
restartPolicy: {{ .restartPolicy }}
automountServiceAccountToken: false
securityContext:
  runAsNonRoot: true
  runAsUser: {{ $root.Values.securityContext.runAsUser }}
  runAsGroup: {{ $root.Values.securityContext.runAsGroup }}
  fsGroup: {{ $root.Values.securityContext.runAsGroup }}
  seccompProfile:
    type: RuntimeDefault
{{- with .subdomain }}
subdomain: {{ . }}
{{- end }}
{{- with $root.Values.image.pullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if $job.gpu.enabled }}
{{- with $job.gpu.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $job.gpu.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $job.gpu.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
{{- if not $job.stream }}
initContainers:
  - name: pull-data
    image: {{ include "training.image" . }}
    imagePullPolicy: {{ $root.Values.image.pullPolicy }}
    command: ["fittingroom", "data", "pull", {{ $job.data | quote }}, "/data"]
    env:
      {{- include "training.s3Env" (dict "root" $root "secret" $secret) | nindent 6 }}
    securityContext:
      {{- include "training.containerSecurityContext" $root | nindent 6 }}
    volumeMounts:
      - {name: data, mountPath: /data}
      - {name: tmp, mountPath: /tmp}
{{- end }}
containers:
  - name: {{ .containerName }}
    image: {{ include "training.image" . }}
    imagePullPolicy: {{ $root.Values.image.pullPolicy }}
    command:
      - /bin/sh
      - -c
      - >-
        exec torchrun --nnodes={{ $job.nodes }} --nproc-per-node={{ $job.nprocPerNode }}
        --node-rank="${NODE_RANK:-$RANK}" --master-addr="$MASTER_ADDR" --master-port="$MASTER_PORT"
        --no-python fittingroom train {{ .model }} "$@"
      - torchrun
    args:
      {{- $dataArgs := ternary (list "--shards" $job.data) $job.dataArgs (and $job.stream (eq .model "segmentation")) }}
      {{- if and $job.stream (ne .model "segmentation") }}
      {{- fail (printf "jobs.%s.stream: only the segmentation trainer streams shards" .model) }}
      {{- end }}
      {{- range (concat $dataArgs (list "--out-dir" "/runs" "--registry" (printf "s3://%s" $root.Values.s3.modelsBucket) "--device" (ternary "cuda" "cpu" $job.gpu.enabled)) $job.args) }}
      - {{ . | quote }}
      {{- end }}
    env:
      {{- include "training.s3Env" (dict "root" $root "secret" $secret) | nindent 6 }}
      {{- with .rendezvous }}
      - name: NODE_RANK
        valueFrom:
          fieldRef:
            fieldPath: metadata.annotations['batch.kubernetes.io/job-completion-index']
      - name: MASTER_ADDR
        value: {{ .addr | quote }}
      - name: MASTER_PORT
        value: {{ .port | quote }}
      {{- end }}
    {{- if .rendezvous }}
    ports:
      - name: rendezvous
        containerPort: {{ $root.Values.rendezvousPort }}
        protocol: TCP
    {{- end }}
    resources:
      requests:
        {{- toYaml $job.resources.requests | nindent 8 }}
      limits:
        {{- toYaml $job.resources.limits | nindent 8 }}
        {{- if $job.gpu.enabled }}
        nvidia.com/gpu: {{ $job.gpu.count }}
        {{- end }}
    securityContext:
      {{- include "training.containerSecurityContext" $root | nindent 6 }}
    volumeMounts:
      {{- if not $job.stream }}
      - {name: data, mountPath: /data, readOnly: true}
      {{- end }}
      - {name: runs, mountPath: /runs}
      - {name: tmp, mountPath: /tmp}
      - {name: shm, mountPath: /dev/shm}
volumes:
  {{- if not $job.stream }}
  - name: data
    emptyDir:
      sizeLimit: {{ $job.scratchSize }}
  {{- end }}
  - name: runs
    {{- if $job.checkpointClaim }}
    persistentVolumeClaim:
      claimName: {{ $job.checkpointClaim }}
    {{- else }}
    emptyDir: {}
    {{- end }}
  - name: tmp
    emptyDir:
      sizeLimit: 10Gi
  - name: shm
    emptyDir:
      medium: Memory
      sizeLimit: {{ $job.shmSize }}
{{- end -}}

{{- define "training.s3Env" -}}
- name: FITTINGROOM_S3_ENDPOINT
  value: {{ .root.Values.s3.endpoint | quote }}
- name: FITTINGROOM_S3_SECURE
  value: {{ .root.Values.s3.secure | quote }}
- name: FITTINGROOM_S3_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ .root.Values.s3.accessKeyKey }}
- name: FITTINGROOM_S3_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ .root.Values.s3.secretKeyKey }}
{{- end -}}

{{- define "training.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: ["ALL"]
{{- end -}}
