#!/usr/bin/env bash
# infra.sh up|down|status|env — the local distributed-mode infrastructure:
# Apache Kafka (KRaft, single node) and MinIO on loopback, topics and buckets created.
#
#   up      fetch/build what is missing (cached), start both servers, wait until they
#           are ready, create the topics, the services' Kafka ACLs, the buckets and one
#           MinIO user per service, write $STATE_DIR/infra.env (mode 600: it names the
#           Kafka admin's password file and the broker's CA, and holds the MinIO keys)
#   down    stop both servers and delete their data and the env file
#   status  one line per server (exit status 3 when one is stopped)
#   env     print the env file as `export` lines: eval "$(bash infra.sh env)"
#
# Knobs (environment): FITTINGROOM_CACHE, FITTINGROOM_INFRA_DIR (state, default
# /tmp/fittingroom-infra-<uid>), FITTINGROOM_KAFKA_PORT, FITTINGROOM_KAFKA_CONTROLLER_PORT,
# FITTINGROOM_KAFKA_MTLS_PORT,
# FITTINGROOM_MINIO_PORT, FITTINGROOM_MINIO_CONSOLE_PORT, FITTINGROOM_KAFKA_PARTITIONS (6),
# FITTINGROOM_REQUESTS_BUCKET, FITTINGROOM_MODELS_BUCKET,
# FITTINGROOM_REQUESTS_EXPIRY_DAYS (7), FITTINGROOM_S3_ACCESS_KEY and
# FITTINGROOM_S3_SECRET_KEY (MinIO's admin pair, for provisioning and seeding models
# only; default: a random pair per infra folder, written to infra.env),
# FITTINGROOM_INFRA_KEEP_DATA=1 (down keeps data), FITTINGROOM_INFRA_OWNER_PID (stop everything when that process exits),
# FITTINGROOM_PYTHON (interpreter for the provisioning step).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PARTITIONS="${FITTINGROOM_KAFKA_PARTITIONS:-6}"
REQUESTS_BUCKET="${FITTINGROOM_REQUESTS_BUCKET:-fittingroom-requests}"
MODELS_BUCKET="${FITTINGROOM_MODELS_BUCKET:-fittingroom-models}"
EXPIRY_DAYS="${FITTINGROOM_REQUESTS_EXPIRY_DAYS:-7}"
WATCHDOG_PID="$STATE_DIR/watchdog.pid"
MINIO_USERS="$MINIO_DIR/users"

# service_credentials: FITTINGROOM_S3_{ACCESS,SECRET}_KEY_<SERVICE> lines, one MinIO user per
# service (fittingroom.s3access), drawn at random once per infra folder and kept in
# $MINIO_USERS (mode 600, deleted with the MinIO data by `down`).
service_credentials() {
    if [[ ! -s "$MINIO_USERS" ]]; then
        (umask 077 && "$(python_bin)" -m fittingroom.s3access new-credentials > "$MINIO_USERS.tmp")
        mv -f "$MINIO_USERS.tmp" "$MINIO_USERS"
    fi
    cat "$MINIO_USERS"
}

write_env() {
    local tmp="$ENV_FILE.tmp"
    # Readable by this user only: it holds the MinIO keys (and names the Kafka admin's password file).
    install -m 600 /dev/null "$tmp"
    cat > "$tmp" <<EOF
FITTINGROOM_INFRA_DIR=$STATE_DIR
FITTINGROOM_KAFKA_BOOTSTRAP=127.0.0.1:$KAFKA_PORT
FITTINGROOM_KAFKA_PORT=$KAFKA_PORT
FITTINGROOM_KAFKA_CONTROLLER_PORT=$KAFKA_CONTROLLER_PORT
FITTINGROOM_KAFKA_MTLS_PORT=$KAFKA_MTLS_PORT
FITTINGROOM_KAFKA_MTLS_BOOTSTRAP=127.0.0.1:$KAFKA_MTLS_PORT
FITTINGROOM_KAFKA_PARTITIONS=$PARTITIONS
FITTINGROOM_KAFKA_SECURITY_PROTOCOL=SASL_SSL
FITTINGROOM_KAFKA_SASL_MECHANISM=SCRAM-SHA-512
FITTINGROOM_KAFKA_CA=$KAFKA_TLS_DIR/ca.crt
FITTINGROOM_KAFKA_USERNAME=$(admin_user)
FITTINGROOM_KAFKA_PASSWORD_FILE=$KAFKA_USERS_DIR/$(admin_user)
FITTINGROOM_KAFKA_USERS_DIR=$KAFKA_USERS_DIR
FITTINGROOM_S3_ENDPOINT=127.0.0.1:$MINIO_PORT
FITTINGROOM_S3_ACCESS_KEY=$S3_ACCESS_KEY
FITTINGROOM_S3_SECRET_KEY=$S3_SECRET_KEY
FITTINGROOM_S3_SECURE=false
FITTINGROOM_REQUESTS_BUCKET=$REQUESTS_BUCKET
FITTINGROOM_MODELS_BUCKET=$MODELS_BUCKET
FITTINGROOM_REQUESTS_EXPIRY_DAYS=$EXPIRY_DAYS
FITTINGROOM_MINIO_PORT=$MINIO_PORT
FITTINGROOM_MINIO_CONSOLE_PORT=$MINIO_CONSOLE_PORT
EOF
    service_credentials >> "$tmp"
    mv -f "$tmp" "$ENV_FILE"
}

# start_watchdog: with FITTINGROOM_INFRA_OWNER_PID set, a small background loop
# runs `infra.sh down` once that process is gone (e.g. a killed test run).
start_watchdog() {
    local owner="${FITTINGROOM_INFRA_OWNER_PID:-}"
    [[ -n "$owner" ]] || return 0
    pid_alive "$WATCHDOG_PID" && return 0
    FITTINGROOM_INFRA_DIR="$STATE_DIR" nohup setsid bash -c \
        'while kill -0 "$1" 2>/dev/null; do sleep 1; done; exec bash "$2" down' \
        watchdog "$owner" "$INFRA_DIR/infra.sh" > "$STATE_DIR/watchdog.log" 2>&1 < /dev/null &
    echo $! > "$WATCHDOG_PID"
}

# stop_watchdog: end the watchdog, unless it is this very `down` (it execs into it).
stop_watchdog() {
    local pid
    if pid_alive "$WATCHDOG_PID"; then
        pid="$(cat "$WATCHDOG_PID")"
        [[ "$pid" == "$$" || "$pid" == "$PPID" ]] || kill -TERM "$pid" 2>/dev/null || true
    fi
    rm -f "$WATCHDOG_PID"
}

up() {
    local t0 minio_job
    t0="$(now)"
    mkdir -p "$STATE_DIR"
    load_s3_credentials
    bash "$INFRA_DIR/fetch-minio.sh"
    bash "$INFRA_DIR/fetch-kafka.sh"
    bash "$INFRA_DIR/minio.sh" start &
    minio_job=$!
    # A server that started is stopped again when the other did not: a failed `up` leaves nothing running.
    bash "$INFRA_DIR/kafka.sh" start || { wait "$minio_job" || true; bash "$INFRA_DIR/minio.sh" stop; die "kafka did not start"; }
    wait "$minio_job" || { bash "$INFRA_DIR/kafka.sh" stop; die "minio did not start"; }
    write_env
    start_watchdog
    (
        set -a
        # shellcheck disable=SC1090
        source "$ENV_FILE"
        set +a
        "$(python_bin)" -m fittingroom.provision
    )
    log "up in $(elapsed "$t0") s; environment in $ENV_FILE"
}

down() {
    stop_watchdog
    bash "$INFRA_DIR/kafka.sh" stop &
    local kafka_job=$!
    bash "$INFRA_DIR/minio.sh" stop
    wait "$kafka_job"
    if [[ "${FITTINGROOM_INFRA_KEEP_DATA:-0}" != 1 ]]; then
        rm -rf "$KAFKA_DIR" "$MINIO_DIR" "$ENV_FILE" "$STATE_DIR/watchdog.log"
        rmdir "$STATE_DIR" 2>/dev/null || true
    fi
}

status() {
    local rc=0
    bash "$INFRA_DIR/kafka.sh" status || rc=$?
    bash "$INFRA_DIR/minio.sh" status || rc=$?
    return "$rc"
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    env) [[ -f "$ENV_FILE" ]] || die "no $ENV_FILE: run infra.sh up first"; sed 's/^/export /' "$ENV_FILE" ;;
    *) echo "usage: $0 up|down|status|env" >&2; exit 2 ;;
esac
