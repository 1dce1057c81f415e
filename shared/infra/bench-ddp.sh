#!/usr/bin/env bash
# Training throughput, one process against torchrun ranks on the same global batch,
# for the three trainers on synthetic data (CPU, gloo). Prints one table row per run
# and writes them to OUT/ddp-throughput.tsv.
#
#   bash shared/infra/bench-ddp.sh [OUT] [NPROC]      (default out/bench, 2)
#
# Each process gets one torch thread: on a machine with NPROC free cores that is
# the fair split (the one-process row also runs with NPROC threads). Images/s
# counts training images (StyleNet crops, Mask R-CNN photos, CycleGAN source
# images) over the seconds the trainers record for their epochs.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:-out/bench}"
NPROC="${2:-2}"
FR="${FR:-.venv/bin/fittingroom}"
PY="${PY:-.venv/bin/python}"
DATA="$OUT/ddp-data"
mkdir -p "$OUT"
export OMP_NUM_THREADS=1
[ -d "$DATA/train" ] || "$FR" data synth --out "$DATA" --n 64 --width 160 --height 200 --cyclegan-per-class 2 >/dev/null

launch() {  # launch NPROC THREADS ARGS...
    local nproc="$1" threads="$2"; shift 2
    if [ "$nproc" = 1 ]; then
        "$FR" "$@" --threads "$threads"
    else
        "$PY" -m torch.distributed.run --nnodes=1 --nproc-per-node="$nproc" --master-addr=127.0.0.1 \
            --master-port="$((29500 + RANDOM % 1000))" "$FR" "$@" --threads "$threads"
    fi
}

rate() {  # rate KIND STORE: images/s from the registered manifest
    "$PY" - "$1" "$2" <<'PY'
import json, sys
from pathlib import Path
kind, store = sys.argv[1], Path(sys.argv[2])
manifest = json.loads(next(store.rglob("manifest.json")).read_text())
t, m = manifest["training"], manifest["metrics"]
if kind == "style":
    print(f"{t['train_count'] * len(t['epoch_seconds']) / sum(t['epoch_seconds']):.1f}")
elif kind == "segmentation":
    print(f"{m['train_images'] * m['epochs'] / m['train_seconds']:.2f}")
else:
    print(f"{t['steps'] * t['batch_size'] * t['world_size'] / t['seconds']:.1f}")
PY
}

run() {  # run KIND NPROC THREADS GLOBAL_BATCH ARGS...
    local kind="$1" nproc="$2" threads="$3" batch="$4"; shift 4
    local dir="$OUT/ddp-$kind-$nproc-$threads"
    rm -rf "$dir"
    launch "$nproc" "$threads" train "$kind" --out-dir "$dir/run" --store-dir "$dir/store" --device cpu \
        --batch-size "$((batch / nproc))" "$@" >"$dir.log" 2>&1
    printf '%s\t%s\t%s\t%s\t%s\n' "$kind" "$nproc" "$threads" "$batch" "$(rate "$kind" "$dir/store")" | tee -a "$OUT/ddp-throughput.tsv"
}

printf 'model\tprocesses\tthreads each\tglobal batch\timages/s\n' | tee "$OUT/ddp-throughput.tsv"
for setup in "1 1" "1 $NPROC" "$NPROC 1"; do
    set -- $setup
    run style "$1" "$2" 32 --data-root "$DATA" --epochs 2 --width 16
    run translation "$1" "$2" 4 --source "$DATA/cyclegan/source" --target "$DATA/cyclegan/red-solid" \
        --style-class red-solid --n-epochs 1 --n-epochs-decay 0 --max-images-per-epoch 32 --load-size 72 --crop-size 64
    run segmentation "$1" "$2" 4 --data-root "$DATA" --epochs 1 --max-train-images 16 --max-val-images 2 \
        --min-size 192 --max-size 192 --warmup-iters 2
done
