#!/usr/bin/env bash
# Build the local base image of services/Dockerfile from Debian packages only, once:
# `debootstrap --variant=minbase bookworm` plus Debian's Python 3.11 (python3,
# python3-venv, python-is-python3 for the `python` the Dockerfile calls) and CA
# certificates, imported with `podman import` as $FITTINGROOM_BASE_IMAGE
# (localhost/fittingroom-python:3.11-bookworm). No registry serves images here;
# on a real cluster the Dockerfile's default public Python image is used instead.
# The CAs this machine added to its own trust store (FITTINGROOM_EXTRA_CA_DIR, default
# /usr/local/share/ca-certificates, e.g. an egress proxy's) are trusted inside too, so
# apt and pip in image builds reach the registries the way the host does.
# About a minute on a fresh machine; prints the image name on stdout.
#   --force   rebuild even if the image exists
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$INFRA_DIR/podman.sh"

MIRROR="${FITTINGROOM_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE=bookworm
PACKAGES=python3,python3-venv,python-is-python3,ca-certificates
EXTRA_CA_DIR="${FITTINGROOM_EXTRA_CA_DIR:-/usr/local/share/ca-certificates}"

require_podman
command -v debootstrap >/dev/null || die "debootstrap is needed (apt-get install -y debootstrap)"
if [[ "${1:-}" != "--force" ]] && podman image exists "$BASE_IMAGE"; then
    echo "$BASE_IMAGE"
    exit 0
fi

start="$(now)"
mkdir -p "$CACHE_DIR"
tmp="$(mktemp -d "$CACHE_DIR/.base-image-XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
log "debootstrap $SUITE (minbase + $PACKAGES) from $MIRROR"
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$tmp/rootfs" "$MIRROR" \
    | awk '/^[EW]: / { print "[infra] debootstrap: " $0 > "/dev/stderr"; next }
           /^I: / { if (++n % 25 == 0) print "[infra] debootstrap: " $0 > "/dev/stderr" }'
if compgen -G "$EXTRA_CA_DIR/*.crt" >/dev/null; then
    log "trusting this machine's extra CAs: $(cd "$EXTRA_CA_DIR" && echo *.crt)"
    cp "$EXTRA_CA_DIR"/*.crt "$tmp/rootfs/usr/local/share/ca-certificates/"
    chroot "$tmp/rootfs" update-ca-certificates >/dev/null
fi
# What a container never needs: downloaded .debs and package lists (apt-get update refetches them).
rm -rf "$tmp/rootfs/var/cache/apt/archives/"*.deb "$tmp/rootfs/var/lib/apt/lists/"*
log "importing the root filesystem as $BASE_IMAGE"
tar -C "$tmp/rootfs" --numeric-owner -c . \
    | podman import --quiet --change 'ENV LANG=C.UTF-8' \
        --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' --change 'CMD ["python"]' - "$BASE_IMAGE" >/dev/null
log "base image $BASE_IMAGE ready: $(podman_with_runtime run --rm "${PODMAN_ULIMITS[@]}" "$BASE_IMAGE" python --version) ($(elapsed "$start") s)"
echo "$BASE_IMAGE"
