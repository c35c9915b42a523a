{{/*
Chart name, truncated to the 63 characters of a DNS label.
*/}}
{{- define "gatehouse.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: <release>-<chart>, or the release name when it already contains the chart name.
*/}}
{{- define "gatehouse.fullname" -}}
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

{{- define "gatehouse.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "gatehouse.labels" -}}
helm.sh/chart: {{ include "gatehouse.chart" . }}
{{ include "gatehouse.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gatehouse
{{- end }}

{{/*
Selector labels (never change them in an upgrade: Deployment selectors are immutable).
*/}}
{{- define "gatehouse.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gatehouse.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "gatehouse.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gatehouse.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference: repository@digest, or repository:tag (tag defaults to appVersion).
*/}}
{{- define "gatehouse.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}
{{- end }}

{{/*
The Secret holding DATABASE_URL & co.: the operator's existingSecret or the chart's own.
*/}}
{{- define "gatehouse.secretName" -}}
{{- default (include "gatehouse.fullname" .) .Values.existingSecret }}
{{- end }}

{{- define "gatehouse.jwtKeysSecretName" -}}
{{- default (printf "%s-jwt-keys" (include "gatehouse.fullname" .)) .Values.jwtKeys.existingSecret }}
{{- end }}

{{/*
True (non-empty) when the chart must provide an HS256 JWT_SECRET itself: no secret given,
no JWKS URL, no key pair.
*/}}
{{- define "gatehouse.generateJwtSecret" -}}
{{- if and (not .Values.existingSecret) (not .Values.secrets.jwtSecret) (not .Values.config.jwt.jwksUrl) (not .Values.jwtKeys.enabled) }}true{{ end }}
{{- end }}

{{/*
The JWT secret to store: the value given, else the one already in the release's Secret (so an
upgrade keeps every issued token valid), else a fresh random one.
*/}}
{{- define "gatehouse.jwtSecret" -}}
{{- if .Values.secrets.jwtSecret }}
{{- .Values.secrets.jwtSecret }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "gatehouse.fullname" .) }}
{{- if and $existing $existing.data (hasKey $existing.data "JWT_SECRET") }}
{{- index $existing.data "JWT_SECRET" | b64dec }}
{{- else }}
{{- randAlphaNum 64 }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Shutdown timing. terminationGracePeriodSeconds must cover the preStop pause, the drain delay
and the grace period for in-flight requests.
*/}}
{{- define "gatehouse.shutdownBudget" -}}
{{- $s := .Values.shutdown }}
{{- add (int $s.preStopSleepSeconds) (int $s.drainDelaySeconds) (int $s.graceSeconds) }}
{{- end }}

{{- define "gatehouse.terminationGracePeriodSeconds" -}}
{{- $budget := include "gatehouse.shutdownBudget" . | int }}
{{- $explicit := .Values.shutdown.terminationGracePeriodSeconds }}
{{- if kindIs "invalid" $explicit }}
{{- add $budget 10 }}
{{- else if le (int $explicit) $budget }}
{{- fail (printf "shutdown.terminationGracePeriodSeconds (%d) must exceed preStopSleepSeconds + drainDelaySeconds + graceSeconds (%d)" (int $explicit) $budget) }}
{{- else }}
{{- int $explicit }}
{{- end }}
{{- end }}

{{/*
Non-secret environment (name: "value"), shared by the ConfigMap and the migration Job (whose
pre-install hook runs before the ConfigMap exists).
*/}}
{{- define "gatehouse.configEnv" -}}
{{- $c := .Values.config }}
{{- $l := $c.limits }}
GATEHOUSE_ADDR: {{ printf "0.0.0.0:%d" (int .Values.containerPort) | quote }}
GATEHOUSE_ENV: {{ $c.environment | quote }}
RUST_LOG: {{ $c.rustLog | quote }}
GATEHOUSE_SEED_DEMO: {{ $c.seedDemo | toString | quote }}
GATEHOUSE_GRAPHIQL: {{ $c.graphiql | toString | quote }}
GATEHOUSE_INTROSPECTION: {{ $c.introspection | toString | quote }}
{{- with $c.databaseSchema }}
GATEHOUSE_DATABASE_SCHEMA: {{ . | quote }}
{{- end }}
GATEHOUSE_DB_MAX_CONNECTIONS: {{ int64 $c.dbMaxConnections | quote }}
{{- with $c.otlpEndpoint }}
OTEL_EXPORTER_OTLP_ENDPOINT: {{ . | quote }}
{{- end }}
GATEHOUSE_ENTITY_CACHE: {{ $c.cache.entities | toString | quote }}
GATEHOUSE_RESPONSE_CACHE: {{ $c.cache.responses | toString | quote }}
GATEHOUSE_CACHE_TTL_SECS: {{ int64 $c.cache.ttlSeconds | quote }}
GATEHOUSE_RESPONSE_CACHE_TTL_SECS: {{ int64 $c.cache.responseTtlSeconds | quote }}
GATEHOUSE_LOCAL_CACHE_TTL_MS: {{ int64 $c.cache.localTtlMs | quote }}
GATEHOUSE_LOCAL_CACHE_CAPACITY: {{ int64 $c.cache.localCapacity | quote }}
GATEHOUSE_REPLICA_LAG_MS: {{ int64 $c.cache.replicaLagMs | quote }}
GATEHOUSE_JWT_ISSUER: {{ $c.jwt.issuer | quote }}
GATEHOUSE_JWT_TTL_SECS: {{ int64 $c.jwt.ttlSeconds | quote }}
{{- with $c.jwt.jwksUrl }}
JWT_JWKS_URL: {{ . | quote }}
{{- end }}
{{- if .Values.jwtKeys.enabled }}
JWT_PRIVATE_KEY_FILE: {{ printf "/etc/gatehouse/jwt/%s" .Values.jwtKeys.privateKeyKey | quote }}
JWT_PUBLIC_KEY_FILE: {{ printf "/etc/gatehouse/jwt/%s" .Values.jwtKeys.publicKeyKey | quote }}
{{- end }}
GATEHOUSE_MAX_DEPTH: {{ int64 $l.maxDepth | quote }}
GATEHOUSE_MAX_COMPLEXITY: {{ int64 $l.maxComplexity | quote }}
GATEHOUSE_MAX_ALIASES: {{ int64 $l.maxAliases | quote }}
GATEHOUSE_MAX_ROOT_FIELDS: {{ int64 $l.maxRootFields | quote }}
GATEHOUSE_MAX_BATCH: {{ int64 $l.maxBatch | quote }}
GATEHOUSE_MAX_BODY_BYTES: {{ int64 $l.maxBodyBytes | quote }}
GATEHOUSE_REQUEST_TIMEOUT_MS: {{ int64 $l.requestTimeoutMs | quote }}
GATEHOUSE_RATE_POINTS: {{ int64 $l.ratePoints | quote }}
GATEHOUSE_RATE_WINDOW_SECS: {{ int64 $l.rateWindowSecs | quote }}
GATEHOUSE_RATE_LEASE_POINTS: {{ int64 $l.rateLeasePoints | quote }}
GATEHOUSE_IP_RATE_PER_SEC: {{ int64 $l.ipRatePerSec | quote }}
GATEHOUSE_IP_BURST: {{ int64 $l.ipBurst | quote }}
{{- with $l.trustedProxies }}
GATEHOUSE_TRUSTED_PROXIES: {{ join "," . | quote }}
{{- end }}
GATEHOUSE_DRAIN_DELAY_SECS: {{ int64 .Values.shutdown.drainDelaySeconds | quote }}
GATEHOUSE_SHUTDOWN_GRACE_SECS: {{ int64 .Values.shutdown.graceSeconds | quote }}
{{- range $k, $v := .Values.extraEnv }}
{{ $k }}: {{ $v | toString | quote }}
{{- end }}
{{- end }}

{{/*
Secret-backed env entries (valueFrom.secretKeyRef). DATABASE_URL is required: a pod without
it does not start (CreateContainerConfigError), the rest are optional.
*/}}
{{- define "gatehouse.secretEnv" -}}
{{- $name := include "gatehouse.secretName" . }}
{{- $keys := .Values.existingSecretKeys }}
{{- if not .Values.existingSecret }}
{{- $keys = dict "databaseUrl" "DATABASE_URL" "databaseReplicaUrl" "DATABASE_REPLICA_URL" "redisUrl" "REDIS_URL" "jwtSecret" "JWT_SECRET" }}
{{- end }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $name }}
      key: {{ $keys.databaseUrl }}
- name: DATABASE_REPLICA_URL
  valueFrom:
    secretKeyRef:
      name: {{ $name }}
      key: {{ $keys.databaseReplicaUrl }}
      optional: true
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $name }}
      key: {{ $keys.redisUrl }}
      optional: true
- name: JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $name }}
      key: {{ $keys.jwtSecret }}
      optional: true
{{- end }}
