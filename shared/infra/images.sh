#!/usr/bin/env bash
# images.sh [SERVICE...]: build the targets of services/Dockerfile with podman, on the
# local base image (base-image.sh, made first if missing), tagged as the chart names
# them with image.registry=localhost and values-cpu.yaml:
#   localhost/fittingroom-<service>:<appVersion>        gateway, compositing
#   localhost/fittingroom-<service>:<appVersion>-cpu    segmentation, style, translation
# (skaffold's artifacts are the same fittingroom-<service> names). Default: all five.
#
# Layers are cached by podman (keyed on COPYed content), so a rebuild
# after a code change reruns only the project wheel and the last layer of each image.
# FITTINGROOM_TORCH_VARIANT=cuda builds the model services' CUDA variant instead;
# FITTINGROOM_TORCH_CPU_INDEX is where the cpu variant's torch comes from (default
# PyPI, the only index this machine reaches; PyTorch's CPU index on a real cluster).
# `images.sh --names` prints "<service> <image>" per service and builds nothing.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$INFRA_DIR/podman.sh"

ALL_SERVICES=(gateway compositing segmentation style translation)
MODEL_SERVICES=" segmentation style translation "
TORCH_VARIANT="${FITTINGROOM_TORCH_VARIANT:-cpu}"
TORCH_CPU_INDEX="${FITTINGROOM_TORCH_CPU_INDEX:-https://pypi.org/simple}"
APP_VERSION="$(awk -F'"' '/^appVersion:/ { print $2 }' "$REPO_ROOT/charts/fittingroom/Chart.yaml")"

# image_name SERVICE: the name the chart gives the service's image (see the header).
image_name() {
    local tag="$APP_VERSION"
    [[ "$MODEL_SERVICES" == *" $1 "* ]] && tag="$tag-$TORCH_VARIANT"
    echo "localhost/fittingroom-$1:$tag"
}

[[ -n "$APP_VERSION" ]] || die "no appVersion in charts/fittingroom/Chart.yaml"
if [[ "${1:-}" == "--names" ]]; then
    for service in "${ALL_SERVICES[@]}"; do echo "$service $(image_name "$service")"; done
    exit 0
fi
require_podman
services=("$@")
((${#services[@]})) || services=("${ALL_SERVICES[@]}")
base="$(bash "$INFRA_DIR/base-image.sh")"
logs="$STATE_DIR/images"
mkdir -p "$logs"
for service in "${services[@]}"; do
    [[ " ${ALL_SERVICES[*]} " == *" $service "* ]] || die "unknown service '$service' (${ALL_SERVICES[*]})"
    start="$(now)"
    name="$(image_name "$service")"
    torch="no torch"
    [[ "$MODEL_SERVICES" == *" $service "* ]] && torch="torch $TORCH_VARIANT"
    log "building $name (target $service, $torch, base $base)"
    podman_with_runtime build "${PODMAN_ULIMITS[@]}" --layers --file "$REPO_ROOT/services/Dockerfile" \
        --target "$service" --build-arg "PYTHON_IMAGE=$base" --build-arg "TORCH_VARIANT=$TORCH_VARIANT" \
        --build-arg "TORCH_CPU_INDEX=$TORCH_CPU_INDEX" --tag "$name" "$REPO_ROOT" 2>&1 \
        | tee "$logs/$service.log" | sed -u -n -e '/STEP [0-9]/p' -e '/^image-deps.sh: /p' >&2 \
        || { tail -n 40 "$logs/$service.log" >&2; die "building $name failed (log: $logs/$service.log)"; }
    log "$name: $(podman image inspect --format '{{.Size}}' "$name" | awk '{ printf "%.0f MB", $1 / 1e6 }') in $(elapsed "$start") s"
done
