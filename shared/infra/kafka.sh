#!/usr/bin/env bash
# kafka.sh start|stop|status — a single-node Apache Kafka broker in KRaft combined
# mode (broker + controller in one JVM) on loopback, data under $STATE_DIR/kafka.
#
# Secured like a production cluster: clients connect with SASL_SSL (SCRAM-SHA-512)
# and every request is checked by the StandardAuthorizer, which allows nothing
# without an ACL (provisioning creates the services' ones). The SCRAM users are
# the admin super-user and one per service (fittingroom.kafka_auth.local_users),
# created when the storage is formatted, each with a random password kept in
# $KAFKA_DIR/users/<name> (mode 600). The broker's certificate comes from a
# throwaway CA (fittingroom.tlsgen) in $KAFKA_DIR/tls, which also issues each
# service a client certificate (CN = its user) for the mutual-TLS listener; the CA's
# key is deleted once they are made. The controller listener takes only the broker's
# own certificate, so no unauthenticated client reaches it.
#
# Ports: FITTINGROOM_KAFKA_PORT (SASL_SSL clients, 9092), FITTINGROOM_KAFKA_CONTROLLER_PORT
# (9093), FITTINGROOM_KAFKA_MTLS_PORT (mutual-TLS clients, 9094). Heap: FITTINGROOM_KAFKA_HEAP (512m). JVM flags: FITTINGROOM_KAFKA_JVM_OPTS
# (default -XX:TieredStopAtLevel=1, for a fast start).
# Data survives stop/start (a broker restart keeps topics and offsets); `infra.sh
# down` deletes it.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PIDFILE="$KAFKA_DIR/kafka.pid"
LOGFILE="$KAFKA_DIR/server.log"
PROPS="$KAFKA_DIR/server.properties"
DATA="$KAFKA_DIR/data"

# The broker's own identity on the mutual-TLS controller listener (a super-user).
BROKER_CN=fittingroom-kafka-broker

# ensure_tls: the CA, the broker's certificate (PEM key + chain in one keystore file) and a
# client certificate per service, made once; then the CA's key goes, so no one mints more.
ensure_tls() {
    [[ -s "$KAFKA_TLS_DIR/keystore.pem" ]] && return 0
    "$(python_bin)" -c 'import sys; from pathlib import Path; from fittingroom.tlsgen import write_local_pki
from fittingroom.chain import SERVICES; from fittingroom.kafka_auth import service_user
write_local_pki(Path(sys.argv[1]), (sys.argv[2], *(service_user(s.name) for s in SERVICES)))' \
        "$KAFKA_TLS_DIR" "$BROKER_CN"
    rm -f "$KAFKA_TLS_DIR/ca.key"
    (umask 077 && cat "$KAFKA_TLS_DIR/$BROKER_CN.key" "$KAFKA_TLS_DIR/$BROKER_CN.crt" > "$KAFKA_TLS_DIR/keystore.pem")
}

# ensure_users: a random password per SCRAM user, one file each, drawn once per infra folder.
ensure_users() {
    local user
    mkdir -p "$KAFKA_USERS_DIR"
    chmod 700 "$KAFKA_USERS_DIR"
    for user in $("$(python_bin)" -c 'from fittingroom.kafka_auth import local_users; print(*local_users())'); do
        [[ -s "$KAFKA_USERS_DIR/$user" ]] && continue
        (umask 077 && random_hex 24 > "$KAFKA_USERS_DIR/$user")
    done
}

write_config() {
    local admin
    admin="$(admin_user)"
    install -m 600 /dev/null "$PROPS"
    cat > "$PROPS" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=SASL_SSL://127.0.0.1:$KAFKA_PORT,MTLS://127.0.0.1:$KAFKA_MTLS_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=SASL_SSL://127.0.0.1:$KAFKA_PORT,MTLS://127.0.0.1:$KAFKA_MTLS_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_SSL
listener.security.protocol.map=CONTROLLER:SSL,SASL_SSL:SASL_SSL,MTLS:SSL
listener.name.mtls.ssl.client.auth=required
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$admin" password="$(cat "$KAFKA_USERS_DIR/$admin")";
ssl.keystore.type=PEM
ssl.keystore.location=$KAFKA_TLS_DIR/keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$KAFKA_TLS_DIR/ca.crt
listener.name.controller.ssl.client.auth=required
ssl.principal.mapping.rules=RULE:^CN=([^,]+)\$/\$1/,DEFAULT
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:$admin;User:$BROKER_CN
log.dirs=$DATA
num.partitions=3
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
group.coordinator.append.linger.ms=0
EOF
    cat > "$KAFKA_DIR/log4j2.properties" <<'EOF'
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.kafka.name = org.apache.kafka
logger.kafka.level = WARN
EOF
}

# java_cmd: the broker's JVM command line, in the array JAVA_CMD.
java_cmd() {
    local extra=()
    read -r -a extra <<< "$KAFKA_JVM_OPTS"
    JAVA_CMD=(java -Xms"$KAFKA_HEAP" -Xmx"$KAFKA_HEAP" -XX:+ExitOnOutOfMemoryError
        -Djava.awt.headless=true "-Dlog4j2.configurationFile=$KAFKA_DIR/log4j2.properties"
        "${extra[@]}" -cp "$KAFKA_HOME/libs/*" kafka.Kafka "$PROPS")
}

format_storage() {
    [[ -f "$DATA/meta.properties" ]] && return 0
    local cluster_id="-"
    # A random 16-byte id in URL-safe base64, like Kafka's Uuid; one starting with
    # '-' would be parsed as an option by the storage tool, so draw again.
    while [[ "$cluster_id" == -* ]]; do
        cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    done
    local scram=() user
    for user in "$KAFKA_USERS_DIR"/*; do
        scram+=(--add-scram "SCRAM-SHA-512=[name=$(basename "$user"),password=$(cat "$user")]")
    done
    log "kafka: formatting $DATA (cluster id $cluster_id, $((${#scram[@]} / 2)) SCRAM users)"
    java -Xmx256m -XX:TieredStopAtLevel=1 "-Dlog4j2.configurationFile=$KAFKA_DIR/log4j2.properties" -cp "$KAFKA_HOME/libs/*" \
        kafka.tools.StorageTool format --cluster-id "$cluster_id" --config "$PROPS" "${scram[@]}" >> "$LOGFILE" 2>&1 \
        || { tail -n 20 "$LOGFILE" >&2; die "kafka: storage format failed"; }
}

broker_ready() {
    grep -q "Kafka Server started" "$LOGFILE" 2>/dev/null && port_open "$KAFKA_PORT"
}

start() {
    bash "$INFRA_DIR/fetch-kafka.sh"
    if pid_alive "$PIDFILE"; then
        log "kafka: already running (pid $(cat "$PIDFILE")) on 127.0.0.1:$KAFKA_PORT"
        return 0
    fi
    require_free_ports kafka "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$KAFKA_MTLS_PORT"
    local t0
    t0="$(now)"
    mkdir -p "$DATA"
    ensure_tls
    ensure_users
    write_config
    : > "$LOGFILE"
    format_storage
    # setsid: the broker ignores the terminal's Ctrl-C; stop it with kafka.sh stop.
    java_cmd
    nohup setsid "${JAVA_CMD[@]}" >> "$LOGFILE" 2>&1 < /dev/null &
    echo $! > "$PIDFILE"
    wait_ready kafka "$PIDFILE" "$LOGFILE" broker_ready
    log "kafka: ready on 127.0.0.1:$KAFKA_PORT (pid $(cat "$PIDFILE"), $(elapsed "$t0") s)"
}

case "${1:-}" in
    start) start ;;
    stop) stop_pid kafka "$PIDFILE" ;;
    status) status_of kafka "$PIDFILE" "bootstrap 127.0.0.1:$KAFKA_PORT, log $LOGFILE" ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
