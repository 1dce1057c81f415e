#!/usr/bin/env bash
# Run the five Fittingroom services as local processes against `infra.sh up`.
#
#   services.sh up      start gateway, segmentation, style, translation, compositing
#   services.sh down    SIGTERM them (each drains, then exits)
#   services.sh status
#
# Ports are the services' defaults from fittingroom.chain (gateway 50050 … compositing 50054, metrics
# +1000). Each service reaches Kafka as its own SCRAM user (fittingroom-<service>, password file in
# $FITTINGROOM_KAFKA_USERS_DIR, from infra.env), held to the ACLs provisioning gave it. Logs and pid files go to $FITTINGROOM_STACK_DIR (default out/stack), and so do, made once:
# the gateway's shop key file (api-keys, hashes only) and the key of the tenant 'local' (api-key,
# mode 600); a throwaway CA and a certificate per service and for local clients (tls/, from
# fittingroom.tlsgen), unless FITTINGROOM_TLS_PLAINTEXT=true; and client.env, the variables
# `make demo-distributed` and `make bench-distributed` load to call the gateway (key, CA).
# Each service runs as its own MinIO user (fittingroom.s3access; infra.sh up made them), never
# with the admin pair nor another service's.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SERVICES=(segmentation style translation compositing gateway)
STACK_DIR="${FITTINGROOM_STACK_DIR:-$REPO_ROOT/out/stack}"
TLS_DIR="$STACK_DIR/tls"
PYTHON="${FITTINGROOM_PYTHON:-$REPO_ROOT/.venv/bin/python}"

plaintext() { [[ "${FITTINGROOM_TLS_PLAINTEXT:-false}" == "true" ]]; }

health_ok() {
    "$PYTHON" - "$1" "$TLS_DIR" "${FITTINGROOM_TLS_PLAINTEXT:-false}" <<'PY'
import sys
from pathlib import Path
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
address, tls_dir, plaintext = sys.argv[1], Path(sys.argv[2]), sys.argv[3] == "true"
if plaintext:
    channel = grpc.insecure_channel(address)
else:  # the stage services require a client certificate: the local clients' one
    ca, key, cert = (tls_dir.joinpath(name).read_bytes() for name in ("ca.crt", "client.key", "client.crt"))
    channel = grpc.secure_channel(address, grpc.ssl_channel_credentials(ca, key, cert))
with channel:
    try:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
    except grpc.RpcError:
        sys.exit(1)
sys.exit(0 if reply.status == health_pb2.HealthCheckResponse.SERVING else 1)
PY
}

# s3_env NAME: env(1) arguments giving NAME its own MinIO pair, FITTINGROOM_S3_{ACCESS,SECRET}_KEY_<NAME>
# in infra.env (fittingroom.s3access.credential_vars), as FITTINGROOM_S3_{ACCESS,SECRET}_KEY, one a line;
# every other service's pair is unset.
s3_env() {
    local access="FITTINGROOM_S3_ACCESS_KEY_${1^^}" secret="FITTINGROOM_S3_SECRET_KEY_${1^^}" var
    [[ -n "${!access:-}" && -n "${!secret:-}" ]] || die "$1: no $access/$secret in $ENV_FILE: run 'infra.sh up' again"
    for var in $(compgen -e | grep -E '^FITTINGROOM_S3_(ACCESS|SECRET)_KEY_'); do printf -- '-u\n%s\n' "$var"; done
    printf '%s\n' "FITTINGROOM_S3_ACCESS_KEY=${!access}" "FITTINGROOM_S3_SECRET_KEY=${!secret}"
}

up() {
    [[ -f "$ENV_FILE" ]] || die "no $ENV_FILE: run 'infra.sh up' first"
    mkdir -p "$STACK_DIR"
    if [[ ! -s "$STACK_DIR/api-key" ]]; then
        (umask 077; "$PYTHON" -m fittingroom.cli.main keys add local --file "$STACK_DIR/api-keys" > "$STACK_DIR/api-key")
    fi
    export FITTINGROOM_API_KEYS_FILE="$STACK_DIR/api-keys"
    if ! plaintext && [[ ! -s "$TLS_DIR/client.crt" ]]; then
        "$PYTHON" -c 'import sys; from pathlib import Path; from fittingroom.tlsgen import write_local_pki
write_local_pki(Path(sys.argv[1]), tuple(sys.argv[2:]))' "$TLS_DIR" "${SERVICES[@]}" client
    fi
    (umask 077; { echo "FITTINGROOM_API_KEY=$(cat "$STACK_DIR/api-key")"
                  plaintext || echo "FITTINGROOM_TLS_CA=$TLS_DIR/ca.crt"; } > "$STACK_DIR/client.env")
    # Default ports come from the chain declaration (fittingroom.chain), the one place they are set.
    # So are their Kafka users (fittingroom.kafka_auth): each service runs as its own principal, held to its ACLs.
    eval "$("$PYTHON" -c 'from fittingroom.chain import SERVICES; from fittingroom.kafka_auth import service_user
[print(f"port_{s.name}={s.grpc_port} user_{s.name}={service_user(s.name)}") for s in SERVICES]')"
    for name in "${SERVICES[@]}"; do
        if pid_alive "$STACK_DIR/$name.pid"; then log "$name: already running"; continue; fi
        local tls_env=() s3=()
        mapfile -t s3 < <(s3_env "$name")
        ((${#s3[@]})) || exit 1
        plaintext || tls_env=(FITTINGROOM_TLS_CERT="$TLS_DIR/$name.crt" FITTINGROOM_TLS_KEY="$TLS_DIR/$name.key"
                              FITTINGROOM_TLS_CA="$TLS_DIR/ca.crt")
        local user kafka_env=()
        user="$(eval echo "\$user_$name")"
        [[ -z "${FITTINGROOM_KAFKA_USERS_DIR:-}" ]] || kafka_env=(FITTINGROOM_KAFKA_USERNAME="$user"
            FITTINGROOM_KAFKA_PASSWORD_FILE="$FITTINGROOM_KAFKA_USERS_DIR/$user")
        nohup env "${s3[@]}" "${tls_env[@]}" "${kafka_env[@]}" "$PYTHON" -m fittingroom.cli.serve "$name" \
            > "$STACK_DIR/$name.log" 2>&1 < /dev/null &
        echo $! > "$STACK_DIR/$name.pid"
    done
    for name in "${SERVICES[@]}"; do
        local address="127.0.0.1:$(eval echo "\$port_$name")" start; start="$(now)"
        until health_ok "$address"; do
            pid_alive "$STACK_DIR/$name.pid" || die "$name exited; see $STACK_DIR/$name.log"
            sleep 0.5
        done
        log "$name: SERVING on $address ($(elapsed "$start") s)"
    done
}

down() {
    for name in "${SERVICES[@]}"; do
        if pid_alive "$STACK_DIR/$name.pid"; then
            kill -TERM "$(cat "$STACK_DIR/$name.pid")" && log "$name: stopping"
        fi
    done
    for name in "${SERVICES[@]}"; do
        while pid_alive "$STACK_DIR/$name.pid"; do sleep 0.3; done
        rm -f "$STACK_DIR/$name.pid"
    done
}

status() {
    for name in "${SERVICES[@]}"; do
        if pid_alive "$STACK_DIR/$name.pid"; then echo "$name running"; else echo "$name stopped"; fi
    done
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
