#!/usr/bin/env bash
# minio.sh start|stop|status — a single-drive MinIO server on loopback, data under
# $STATE_DIR/minio/data (kept across stop/start, deleted by `infra.sh down`).
#
# Ports: FITTINGROOM_MINIO_PORT (S3 API, 9000), FITTINGROOM_MINIO_CONSOLE_PORT (9001,
# console disabled but the port is reserved). Credentials: FITTINGROOM_S3_ACCESS_KEY /
# FITTINGROOM_S3_SECRET_KEY (the secret needs 8+ characters), else a random pair
# kept for this infra folder (lib.sh load_s3_credentials).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PIDFILE="$MINIO_DIR/minio.pid"
LOGFILE="$MINIO_DIR/server.log"
DATA="$MINIO_DIR/data"

minio_ready() {
    if command -v curl >/dev/null; then
        curl -sf -o /dev/null "http://127.0.0.1:$MINIO_PORT/minio/health/ready"
    else
        port_open "$MINIO_PORT"
    fi
}

start() {
    bash "$INFRA_DIR/fetch-minio.sh"
    if pid_alive "$PIDFILE"; then
        log "minio: already running (pid $(cat "$PIDFILE")) on 127.0.0.1:$MINIO_PORT"
        return 0
    fi
    require_free_ports minio "$MINIO_PORT" "$MINIO_CONSOLE_PORT"
    load_s3_credentials
    ((${#S3_SECRET_KEY} >= 8)) || die "minio: FITTINGROOM_S3_SECRET_KEY needs at least 8 characters"
    local t0
    t0="$(now)"
    mkdir -p "$DATA"
    : > "$LOGFILE"
    # setsid: the server ignores the terminal's Ctrl-C; stop it with minio.sh stop.
    MINIO_ROOT_USER="$S3_ACCESS_KEY" MINIO_ROOT_PASSWORD="$S3_SECRET_KEY" \
        MINIO_BROWSER=off MINIO_UPDATE=off \
        nohup setsid "$MINIO_BIN" server "$DATA" --quiet \
        --address "127.0.0.1:$MINIO_PORT" --console-address "127.0.0.1:$MINIO_CONSOLE_PORT" \
        >> "$LOGFILE" 2>&1 < /dev/null &
    echo $! > "$PIDFILE"
    wait_ready minio "$PIDFILE" "$LOGFILE" minio_ready
    log "minio: ready on 127.0.0.1:$MINIO_PORT (pid $(cat "$PIDFILE"), $(elapsed "$t0") s)"
}

case "${1:-}" in
    start) start ;;
    stop) stop_pid minio "$PIDFILE" ;;
    status) status_of minio "$PIDFILE" "endpoint 127.0.0.1:$MINIO_PORT, log $LOGFILE" ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
