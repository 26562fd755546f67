#!/usr/bin/env bash
# Creates correlate's topics on a Kafka cluster; existing topics are left alone. Used by the compose stack's
# `topics` service and the Kubernetes topic Job. The workers create missing topics too (vendor topics on demand);
# this is where operators choose partitions and retention instead of the defaults.
#   BOOTSTRAP   host:port of a broker                 (default kafka:9092)
#   PARTITIONS  partitions of the input topics         (default 8; the most workers that can share the input)
#   REPLICATION replication factor                     (default 1: one broker; 3 on a production cluster)
#   COMMAND_CONFIG  Kafka client properties file for a secured cluster (SASL/TLS), if any
set -euo pipefail
BOOTSTRAP=${BOOTSTRAP:-kafka:9092}
PARTITIONS=${PARTITIONS:-8}
REPLICATION=${REPLICATION:-1}
KAFKA_TOPICS=${KAFKA_TOPICS:-/opt/kafka/bin/kafka-topics.sh}
SECURITY=()
if [ -n "${COMMAND_CONFIG:-}" ]; then SECURITY=(--command-config "$COMMAND_CONFIG"); fi

create() {  # name partitions [config ...]
    local name=$1 partitions=$2
    shift 2
    local configs=()
    for config in "$@"; do configs+=(--config "$config"); done
    "$KAFKA_TOPICS" --bootstrap-server "$BOOTSTRAP" "${SECURITY[@]}" --create --if-not-exists --topic "$name" \
        --partitions "$partitions" --replication-factor "$REPLICATION" "${configs[@]}"
}

create contacts "$PARTITIONS"                               # channel adapters and partner feeds write here
create contacts.accepted "$PARTITIONS" retention.ms=-1      # validated records: the log the detector rebuilds from
create contacts.rejects 1 retention.ms=2592000000           # records that broke the contract, with the reason (30 d)
create incidents 1 cleanup.policy=compact                   # every incident event, keyed by incident id
create notifications 1                                      # customer-notification events, keyed by customer id
echo "topics ready on $BOOTSTRAP"
