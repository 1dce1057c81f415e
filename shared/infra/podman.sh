# How this project runs podman (sourced after lib.sh, not run).
#
# Debian's podman 4.3 defaults to crun, which fails on this kind of host ("cgroups in
# hybrid mode not supported"), and refuses unlimited rlimits: every call goes through
# runc with explicit, finite limits. FITTINGROOM_PODMAN_RUNTIME picks another runtime.

PODMAN_RUNTIME="${FITTINGROOM_PODMAN_RUNTIME:-runc}"
PODMAN_ULIMITS=(--ulimit nofile=1024:1024 --ulimit nproc=1000:1000)
# The local base image: Debian bookworm (debootstrap) with Debian's Python 3.11 (base-image.sh).
BASE_IMAGE="${FITTINGROOM_BASE_IMAGE:-localhost/fittingroom-python:3.11-bookworm}"

# podman ARGS...: podman on the chosen runtime.
podman_with_runtime() { podman --runtime "$PODMAN_RUNTIME" "$@"; }

require_podman() {
    command -v podman >/dev/null || die "podman is needed (apt-get install -y podman runc debootstrap)"
}
