#!/usr/bin/env bash
# kafka.sh start|stop|status — a single-node Apache Kafka broker in KRaft combined
# mode (broker + controller in one JVM) on loopback, data under $STATE_DIR/kafka.
#
# Ports: FITTINGROOM_KAFKA_PORT (clients, 9092), FITTINGROOM_KAFKA_CONTROLLER_PORT
# (9093). Heap: FITTINGROOM_KAFKA_HEAP (512m). JVM flags: FITTINGROOM_KAFKA_JVM_OPTS
# (default -XX:TieredStopAtLevel=1, for a fast start).
# Data survives stop/start (a broker restart keeps topics and offsets); `infra.sh
# down` deletes it.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PIDFILE="$KAFKA_DIR/kafka.pid"
LOGFILE="$KAFKA_DIR/server.log"
PROPS="$KAFKA_DIR/server.properties"
DATA="$KAFKA_DIR/data"

write_config() {
    cat > "$PROPS" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
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
    log "kafka: formatting $DATA (cluster id $cluster_id)"
    java -Xmx256m -XX:TieredStopAtLevel=1 "-Dlog4j2.configurationFile=$KAFKA_DIR/log4j2.properties" -cp "$KAFKA_HOME/libs/*" \
        kafka.tools.StorageTool format --cluster-id "$cluster_id" --config "$PROPS" >> "$LOGFILE" 2>&1 \
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
    require_free_ports kafka "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"
    local t0
    t0="$(now)"
    mkdir -p "$DATA"
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
