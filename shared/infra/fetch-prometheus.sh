#!/usr/bin/env bash
# Build the pinned Prometheus server and promtool (FITTINGROOM_PROMETHEUS_VERSION, a
# github.com/prometheus/prometheus module version: v0.316.0 is Prometheus 3.x) with
# `go install` from the Go module proxy into $FITTINGROOM_CACHE/bin, once, and print
# the path of the one asked for:
#
#   prometheus="$(bash fetch-prometheus.sh prometheus)"   promtool="$(bash fetch-prometheus.sh promtool)"
#
# Both come from one `go install`, since they share most packages. The build tag
# remove_all_sd leaves out every cloud service discovery (static and file targets are
# all the local stack needs), and without the builtinassets tag the React UI is not
# embedded: the HTTP API, rules and TSDB are all there. FITTINGROOM_PROMETHEUS_BIN and
# FITTINGROOM_PROMTOOL_BIN point at existing binaries instead.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PROMETHEUS_VERSION="${FITTINGROOM_PROMETHEUS_VERSION:-v0.316.0}"
PROMETHEUS_MODULE="github.com/prometheus/prometheus"
TOOLS=(prometheus promtool)

tool="${1:-}"
[[ " ${TOOLS[*]} " == *" $tool "* ]] || die "usage: $0 prometheus|promtool"

override_var="FITTINGROOM_${tool^^}_BIN"
if [[ -n "${!override_var:-}" ]]; then
    [[ -x "${!override_var}" ]] || die "$override_var=${!override_var} is not an executable"
    echo "${!override_var}"
    exit 0
fi

# built_version BIN: the Prometheus module version BIN was built from.
built_version() {
    go version -m "$1" 2>/dev/null | awk -v m="$PROMETHEUS_MODULE" '$1 == "mod" && $2 == m { print $3 }'
}

# fresh BIN: BIN exists and was built from the pinned version (or Go is not here to tell).
fresh() {
    [[ -x "$1" ]] && { ! command -v go >/dev/null || [[ "$(built_version "$1")" == "$PROMETHEUS_VERSION" ]]; }
}

stale=()
for name in "${TOOLS[@]}"; do
    fresh "$CACHE_DIR/bin/$name" || stale+=("$name")
done
if ((${#stale[@]})); then
    command -v go >/dev/null || die "Go is needed to build ${stale[*]} (or set $override_var)"
    start="$(now)"
    mkdir -p "$CACHE_DIR/bin"
    tmp="$(mktemp -d "$CACHE_DIR/.prometheus-build-XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    log "building ${stale[*]} $PROMETHEUS_VERSION with go install (about 10 minutes on 2 cores the first time)"
    packages=()
    for name in "${stale[@]}"; do packages+=("$PROMETHEUS_MODULE/cmd/$name@$PROMETHEUS_VERSION"); done
    GOBIN="$tmp" go install -tags remove_all_sd "${packages[@]}"
    for name in "${stale[@]}"; do mv -f "$tmp/$name" "$CACHE_DIR/bin/$name"; done
    log "${stale[*]} ready in $CACHE_DIR/bin ($(elapsed "$start") s)"
fi
echo "$CACHE_DIR/bin/$tool"
