#!/usr/bin/env bash
# GPU-node benchmarks, prepared to run on a lent accelerator machine (an H200 here) in
# one short call (one machine start):
#   - inference: model throughput at batch 1/8/32, fp32 and bf16 autocast, for the
#     starter and the seed-size Mask R-CNN and generator, with bf16's parity to fp32
#     (`fittingroom bench batching`, shared/cli/bench_batching.py);
#   - training: images/s of the seed-size Mask R-CNN (ResNet-50-FPN v2, batch 4) and the
#     9-block 256 px generator through the trainers' own step code
#     (shared/cli/bench_training.py).
#
#   prepare (here, once):  bash shared/infra/device-bench.sh wheels
#   run (there):           bash shared/infra/device-bench.sh run "$OUT"
#
# That machine has Python 3.12 with torch, torchvision, OpenCV, typer and the rest of
# the embedded pipeline's imports, but nothing can be fetched there: the one missing
# package (the pose model's interpreter, ai-edge-litert) travels as wheels in .whl
# (carry it). The project is used from the working tree (no install): the service
# packages are linked into the fittingroom namespace the way pyproject.toml maps them.
set -euo pipefail
cd "$(dirname "$0")/../.."
WHEELS=.whl
# Wheels for the device's Python 3.12 that its image lacks (checked against its package list).
DEVICE_WHEELS=(ai-edge-litert==2.3.0 backports.strenum==1.2.8)

wheels() {
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
    mkdir -p "$WHEELS"
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform any -d "$WHEELS" "${DEVICE_WHEELS[@]}"
    ls -la "$WHEELS"
}

run() {
    local out="${1:?output folder}"
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        "$WHEELS"/*.whl
    export PYTHONPATH="/tmp/site:$PWD/shared" PYTHONUNBUFFERED=1 FITTINGROOM_BODY_PRIOR=false
    for service in segmentation style translation compositing gateway; do
        ln -sfn "../../services/$service" "shared/fittingroom/$service"
    done
    ln -sfn ../cli shared/fittingroom/cli
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
    python3 -c 'import typer; from fittingroom.cli.bench_batching import batching; typer.run(batching)' \
        --device cuda --batch-sizes 1,8,32 --seconds 5 --seed-size --out-dir "$out" 2>&1 | tee "$out/batching.txt"
    python3 -c 'import typer; from fittingroom.cli.bench_training import training; typer.run(training)' \
        --device cuda --seconds 20 --out-dir "$out" 2>&1 | tee "$out/training.txt"
}

case "${1:-}" in
    wheels) wheels ;;
    run) run "${2:-}" ;;
    *) echo "usage: $0 wheels | run OUT_DIR" >&2; exit 2 ;;
esac
