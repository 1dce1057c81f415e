# Common settings and helpers for the local infrastructure scripts (sourced, not run).
#
# Every knob is a FITTINGROOM_* environment variable. Values left unset are taken
# from $STATE_DIR/infra.env (written by the last start, so `minio.sh start` after
# `infra.sh up` reuses the same ports), then from the defaults below.

set -euo pipefail

INFRA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$INFRA_DIR/../.." && pwd)"
CACHE_DIR="${FITTINGROOM_CACHE:-$HOME/.cache/fittingroom}"
STATE_DIR="${FITTINGROOM_INFRA_DIR:-${TMPDIR:-/tmp}/fittingroom-infra-$(id -u)}"
ENV_FILE="$STATE_DIR/infra.env"

# Fill unset variables from the env file of the previous start (explicit env wins).
if [[ -f "$ENV_FILE" ]]; then
    while IFS='=' read -r _name _value; do
        [[ "$_name" =~ ^FITTINGROOM_[A-Z0-9_]+$ ]] || continue
        [[ -n "${!_name:-}" ]] || export "$_name=$_value"
    done < "$ENV_FILE"
fi

KAFKA_VERSION="${FITTINGROOM_KAFKA_VERSION:-4.1.1}"
KAFKA_HOME="$CACHE_DIR/kafka-$KAFKA_VERSION"
KAFKA_PORT="${FITTINGROOM_KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${FITTINGROOM_KAFKA_CONTROLLER_PORT:-9093}"
# Clients with a certificate (mutual TLS, no SASL) connect here; the certificate's CN is the principal.
KAFKA_MTLS_PORT="${FITTINGROOM_KAFKA_MTLS_PORT:-9094}"
KAFKA_HEAP="${FITTINGROOM_KAFKA_HEAP:-512m}"
# C1-only JIT: the broker is ready ~35% sooner on 2 cores and leaves the CPU to the
# services; set FITTINGROOM_KAFKA_JVM_OPTS (even to "") to replace it.
KAFKA_JVM_OPTS="${FITTINGROOM_KAFKA_JVM_OPTS-"-XX:TieredStopAtLevel=1"}"
KAFKA_DIR="$STATE_DIR/kafka"
# The broker's TLS files (a throwaway CA from fittingroom.tlsgen) and one file per
# SCRAM user holding its password (mode 600), both kept while the broker's data is.
KAFKA_TLS_DIR="$KAFKA_DIR/tls"
KAFKA_USERS_DIR="$KAFKA_DIR/users"

# Pinned MinIO server: the module version `go install github.com/minio/minio@latest`
# resolved to when this was written (see `go version -m <cache>/bin/minio`).
MINIO_VERSION="${FITTINGROOM_MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
MINIO_BIN="${FITTINGROOM_MINIO_BIN:-$CACHE_DIR/bin/minio}"
MINIO_PORT="${FITTINGROOM_MINIO_PORT:-9000}"
MINIO_CONSOLE_PORT="${FITTINGROOM_MINIO_CONSOLE_PORT:-9001}"
S3_ACCESS_KEY="${FITTINGROOM_S3_ACCESS_KEY:-}"
S3_SECRET_KEY="${FITTINGROOM_S3_SECRET_KEY:-}"
MINIO_DIR="$STATE_DIR/minio"
MINIO_CREDENTIALS="$MINIO_DIR/credentials"

READY_TIMEOUT="${FITTINGROOM_INFRA_TIMEOUT:-90}"

log() { printf '[infra] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# random_hex BYTES: that many random bytes from the kernel, as hex.
random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# load_s3_credentials: set S3_ACCESS_KEY / S3_SECRET_KEY. Both from the environment
# (or the last infra.env) when given; otherwise the pair of this infra folder, drawn
# at random the first time and kept in $MINIO_CREDENTIALS (mode 600, deleted with the
# MinIO data by `infra.sh down`), so no local MinIO runs on a well-known key pair.
# 20 and 40 characters: the longest access and secret keys MinIO generates itself.
load_s3_credentials() {
    if [[ -n "$S3_ACCESS_KEY" && -n "$S3_SECRET_KEY" ]]; then
        return 0
    fi
    if [[ -n "$S3_ACCESS_KEY$S3_SECRET_KEY" ]]; then
        die "set both FITTINGROOM_S3_ACCESS_KEY and FITTINGROOM_S3_SECRET_KEY, or neither (a random pair is made)"
    fi
    if [[ ! -s "$MINIO_CREDENTIALS" ]]; then
        mkdir -p "$MINIO_DIR"
        (umask 077 && printf '%s\n%s\n' "fr$(random_hex 9)" "$(random_hex 20)" > "$MINIO_CREDENTIALS.tmp")
        mv -f "$MINIO_CREDENTIALS.tmp" "$MINIO_CREDENTIALS"
    fi
    { read -r S3_ACCESS_KEY && read -r S3_SECRET_KEY; } < "$MINIO_CREDENTIALS"
}

# python_bin: the interpreter for the Python steps (provisioning, certificates).
python_bin() {
    if [[ -n "${FITTINGROOM_PYTHON:-}" ]]; then
        echo "$FITTINGROOM_PYTHON"
    elif [[ -x "$REPO_ROOT/.venv/bin/python" ]]; then
        echo "$REPO_ROOT/.venv/bin/python"
    else
        echo python3
    fi
}

# admin_user: the local broker's provisioning super-user (declared in fittingroom.kafka_auth).
admin_user() { "$(python_bin)" -c 'from fittingroom.kafka_auth import ADMIN_USER; print(ADMIN_USER)'; }

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# pid_alive PIDFILE: true when the file names a running process.
pid_alive() {
    [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

# port_open PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# require_free_ports NAME PORT...: fail early, naming the port, if one is taken.
require_free_ports() {
    local name="$1" port
    shift
    for port in "$@"; do
        if port_open "$port"; then
            die "$name: port 127.0.0.1:$port is already in use (set FITTINGROOM_*_PORT to another port)"
        fi
    done
}

# wait_ready NAME PIDFILE LOGFILE CHECK...: poll CHECK until it succeeds, the
# process dies (its log tail is shown) or READY_TIMEOUT seconds pass.
wait_ready() {
    local name="$1" pidfile="$2" logfile="$3"
    shift 3
    local deadline=$((SECONDS + READY_TIMEOUT))
    until "$@"; do
        if ! pid_alive "$pidfile"; then
            tail -n 30 "$logfile" >&2 || true
            rm -f "$pidfile"
            die "$name exited during start-up (log: $logfile)"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 30 "$logfile" >&2 || true
            die "$name not ready after ${READY_TIMEOUT}s (log: $logfile)"
        fi
        sleep 0.2
    done
}

# stop_pid NAME PIDFILE: SIGTERM, wait up to 30 s for a clean shutdown, then SIGKILL.
stop_pid() {
    local name="$1" pidfile="$2" pid
    if ! pid_alive "$pidfile"; then
        rm -f "$pidfile"
        log "$name: not running"
        return 0
    fi
    pid="$(cat "$pidfile")"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name: pid $pid ignored SIGTERM for 30 s, killing"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
    log "$name: stopped (pid $pid)"
}

# status_of NAME PIDFILE ADDRESS: print one line; exit status 0 running, 3 stopped.
status_of() {
    if pid_alive "$2"; then
        echo "$1: running, pid $(cat "$2"), $3"
        return 0
    fi
    echo "$1: stopped"
    return 3
}
