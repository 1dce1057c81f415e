#!/usr/bin/env bash
# Build the pinned MinIO server (FITTINGROOM_MINIO_VERSION) with `go install` from
# the Go module proxy into $FITTINGROOM_CACHE/bin/minio, once (a few minutes on a
# fresh machine). FITTINGROOM_MINIO_BIN points at an existing binary instead.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# built_version BIN: the github.com/minio/minio module version BIN was built from.
built_version() {
    go version -m "$1" 2>/dev/null | awk '$1 == "mod" && $2 == "github.com/minio/minio" { print $3 }'
}

if [[ -n "${FITTINGROOM_MINIO_BIN:-}" ]]; then
    [[ -x "$MINIO_BIN" ]] || die "FITTINGROOM_MINIO_BIN=$MINIO_BIN is not an executable"
    exit 0
fi
if [[ -x "$MINIO_BIN" ]]; then
    if ! command -v go >/dev/null || [[ "$(built_version "$MINIO_BIN")" == "$MINIO_VERSION" ]]; then
        exit 0
    fi
    log "cached $MINIO_BIN is $(built_version "$MINIO_BIN"), want $MINIO_VERSION: rebuilding"
fi
command -v go >/dev/null || die "Go is needed to build MinIO (or set FITTINGROOM_MINIO_BIN)"

start="$(now)"
mkdir -p "$CACHE_DIR/bin"
tmp="$(mktemp -d "$CACHE_DIR/.minio-build-XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
log "building MinIO $MINIO_VERSION with go install (a few minutes the first time)"
GOBIN="$tmp" go install "github.com/minio/minio@$MINIO_VERSION"
mv -f "$tmp/minio" "$MINIO_BIN"
log "MinIO ready at $MINIO_BIN ($(elapsed "$start") s)"
