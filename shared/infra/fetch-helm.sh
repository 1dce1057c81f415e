#!/usr/bin/env bash
# Build the pinned Helm CLI (FITTINGROOM_HELM_VERSION) with `go install` from the Go
# module proxy into $FITTINGROOM_CACHE/bin/helm, once (a minute or two on a fresh
# machine). FITTINGROOM_HELM_BIN points at an existing binary instead. Prints the
# binary's path on stdout, so callers can run `helm="$(bash fetch-helm.sh)"`.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HELM_VERSION="${FITTINGROOM_HELM_VERSION:-v3.22.0}"
HELM_BIN="${FITTINGROOM_HELM_BIN:-$CACHE_DIR/bin/helm}"

# built_version BIN: the helm.sh/helm/v3 module version BIN was built from.
built_version() {
    go version -m "$1" 2>/dev/null | awk '$1 == "mod" && $2 == "helm.sh/helm/v3" { print $3 }'
}

if [[ -n "${FITTINGROOM_HELM_BIN:-}" ]]; then
    [[ -x "$HELM_BIN" ]] || die "FITTINGROOM_HELM_BIN=$HELM_BIN is not an executable"
    echo "$HELM_BIN"
    exit 0
fi
if [[ -x "$HELM_BIN" ]]; then
    if ! command -v go >/dev/null || [[ "$(built_version "$HELM_BIN")" == "$HELM_VERSION" ]]; then
        echo "$HELM_BIN"
        exit 0
    fi
    log "cached $HELM_BIN is $(built_version "$HELM_BIN"), want $HELM_VERSION: rebuilding"
fi
command -v go >/dev/null || die "Go is needed to build Helm (or set FITTINGROOM_HELM_BIN)"

start="$(now)"
mkdir -p "$CACHE_DIR/bin"
tmp="$(mktemp -d "$CACHE_DIR/.helm-build-XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
log "building Helm $HELM_VERSION with go install (a minute or two the first time)"
GOBIN="$tmp" go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
mv -f "$tmp/helm" "$HELM_BIN"
log "Helm ready at $HELM_BIN ($(elapsed "$start") s)"
echo "$HELM_BIN"
