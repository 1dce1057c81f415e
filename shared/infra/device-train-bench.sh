#!/usr/bin/env bash
# GPU-node training benchmark, prepared for a lent accelerator machine (an H200 here)
# in one short call: training images/s of the seed-size Mask R-CNN (ResNet-50-FPN v2,
# batch 4) and 9-block 256 px CycleGAN (batch 1) through the trainers' own step code
# (`shared/cli/bench_training.py`).
#
#   run (there):  bash shared/infra/device-train-bench.sh "$OUT"
#
# Like device-bench.sh, it uses the working tree without installing: the machine's
# Python 3.12 has torch, torchvision, typer, PIL and OpenCV, and the service packages
# are linked into the fittingroom namespace the way pyproject.toml maps them.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:?output folder}"
export PYTHONPATH="$PWD/shared" PYTHONUNBUFFERED=1
for service in segmentation style translation compositing gateway; do
    ln -sfn "../../services/$service" "shared/fittingroom/$service"
done
ln -sfn ../cli shared/fittingroom/cli
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
python3 -c 'import typer; from fittingroom.cli.bench_training import training; typer.run(training)' \
    --device cuda --seconds 20 --out-dir "$out" 2>&1 | tee "$out/training.txt"
