{{- define "correlate.labels" -}}
app.kubernetes.io/part-of: correlate
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "correlate.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{- define "correlate.apiKeysSecret" -}}
{{ .Values.apiKeys.existingSecret | default (printf "%s-api-keys" .Release.Name) }}
{{- end -}}

{{- define "correlate.settingsSecret" -}}
{{ .Values.deliveryExistingSecret | default (printf "%s-settings" .Release.Name) }}
{{- end -}}

{{- define "correlate.kafkaSecret" -}}
{{ .Values.kafka.sasl.existingSecret | default (printf "%s-kafka" .Release.Name) }}
{{- end -}}

{{/* Environment every correlate container gets: where Kafka and Redis are, and how to reach Kafka securely. */}}
{{- define "correlate.env" -}}
- name: CORRELATE_BROKER
  valueFrom: {configMapKeyRef: {name: {{ .Release.Name }}, key: BROKER}}
- name: CORRELATE_STORE
{{- if .Values.store.existingSecret }}
  valueFrom: {secretKeyRef: {name: {{ .Values.store.existingSecret }}, key: url}}
{{- else }}
  valueFrom: {configMapKeyRef: {name: {{ .Release.Name }}, key: STORE}}
{{- end }}
- name: CORRELATE_HOME
  value: /var/lib/correlate
- name: CORRELATE_KAFKA_SECURITY_PROTOCOL
  value: {{ .Values.kafka.securityProtocol | quote }}
{{- if hasPrefix "SASL_" .Values.kafka.securityProtocol }}
- name: CORRELATE_KAFKA_SASL_MECHANISM
  value: {{ required "kafka.sasl.mechanism is needed with SASL" .Values.kafka.sasl.mechanism | quote }}
- name: CORRELATE_KAFKA_SASL_USERNAME
  value: {{ required "kafka.sasl.username is needed with SASL" .Values.kafka.sasl.username | quote }}
- name: CORRELATE_KAFKA_SASL_PASSWORD_FILE
  value: /etc/correlate/kafka/password
{{- end }}
{{- if .Values.kafka.tls.caSecret }}
- name: CORRELATE_KAFKA_SSL_CAFILE
  value: /etc/correlate/kafka-tls/ca.crt
{{- if .Values.kafka.tls.clientCert }}
- name: CORRELATE_KAFKA_SSL_CERTFILE
  value: /etc/correlate/kafka-tls/tls.crt
- name: CORRELATE_KAFKA_SSL_KEYFILE
  value: /etc/correlate/kafka-tls/tls.key
{{- end }}
{{- end }}
{{- end -}}

{{- define "correlate.mounts" -}}
- {name: home, mountPath: /var/lib/correlate}
- {name: tmp, mountPath: /tmp}
- {name: settings, mountPath: /etc/correlate/settings, readOnly: true}
{{- if hasPrefix "SASL_" .Values.kafka.securityProtocol }}
- {name: kafka-password, mountPath: /etc/correlate/kafka, readOnly: true}
{{- end }}
{{- if .Values.kafka.tls.caSecret }}
- {name: kafka-tls, mountPath: /etc/correlate/kafka-tls, readOnly: true}
{{- end }}
{{- end -}}

{{- define "correlate.volumes" -}}
- {name: home, emptyDir: {}}
- {name: tmp, emptyDir: {}}
- name: settings
  secret: {secretName: {{ include "correlate.settingsSecret" . }}}
{{- if hasPrefix "SASL_" .Values.kafka.securityProtocol }}
- name: kafka-password
  secret: {secretName: {{ include "correlate.kafkaSecret" . }}, items: [{key: password, path: password}]}
{{- end }}
{{- if .Values.kafka.tls.caSecret }}
- name: kafka-tls
  secret: {secretName: {{ .Values.kafka.tls.caSecret }}}
{{- end }}
{{- end -}}

{{- define "correlate.podSecurity" -}}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
