#!/usr/bin/env bash
# image-deps.sh cpu|cuda|none LOCKFILE: install the pinned dependencies into the active
# Python environment of an image build (services/Dockerfile, builder stage).
#
#   cuda  the lock as it is: PyPI's torch wheels bundle the CUDA runtime (nvidia-*
#         packages), so the image needs only the node's driver, no CUDA base image.
#   cpu   torch and torchvision at the lock's versions from $TORCH_CPU_INDEX (default
#         the PyTorch CPU index: no CUDA libraries, several GB smaller), then the rest of
#         the lock without the CUDA-only packages (nvidia-*, cuda-*, triton). With PyPI
#         as the index (a machine that reaches nothing else) torch is PyPI's CUDA build:
#         its libraries link the CUDA runtime, so it cannot even be imported without the
#         nvidia-* and cuda-* packages, which then stay (at the lock's versions; ~3 GB).
#         Only triton (torch.compile's GPU compiler, imported lazily) is left out, and
#         the check below forgives exactly the packages left out.
#   none  the lock without torch, torchvision and the CUDA-only packages: the gateway
#         and compositing run no model and never import torch
#         (tests/unit/test_lean_processes.py).
set -euo pipefail

variant="${1:?usage: image-deps.sh cpu|cuda|none LOCKFILE}"
lock="${2:?usage: image-deps.sh cpu|cuda|none LOCKFILE}"
TORCH_CPU_INDEX="${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}"
CUDA_ONLY='^(torch|torchvision|triton|nvidia-[a-z0-9-]+|cuda-[a-z-]+)=='
CUDA_RUNTIME='^(nvidia-[a-z0-9-]+|cuda-[a-z-]+)=='

case "$variant" in
    cuda)
        pip install --no-deps -r "$lock"
        ;;
    cpu)
        tmp="$(mktemp -d)"
        trap 'rm -rf "$tmp"' EXIT
        grep -E '^(torch|torchvision)==' "$lock" > "$tmp/torch-cpu.txt"
        pip install --no-deps --index-url "$TORCH_CPU_INDEX" -r "$tmp/torch-cpu.txt"
        grep -v -E "$CUDA_ONLY" "$lock" > "$tmp/requirements-cpu.txt"
        torch_info="$(pip show torch)"
        if grep -q -E '^Requires:.*nvidia-' <<< "$torch_info"; then
            echo "image-deps.sh: torch from $TORCH_CPU_INDEX is a CUDA build: keeping its CUDA runtime packages" >&2
            grep -E "$CUDA_RUNTIME" "$lock" >> "$tmp/requirements-cpu.txt"
        fi
        pip install --no-deps -r "$tmp/requirements-cpu.txt"
        ;;
    none)
        tmp="$(mktemp -d)"
        trap 'rm -rf "$tmp"' EXIT
        grep -v -E "$CUDA_ONLY" "$lock" > "$tmp/requirements-none.txt"
        pip install --no-deps -r "$tmp/requirements-none.txt"
        ;;
    *)
        echo "image-deps.sh: variant must be cpu, cuda or none, not '$variant'" >&2
        exit 2
        ;;
esac
# The lock is a complete freeze, so it is installed with --no-deps; pip check
# proves nothing is missing or at a conflicting version (bar the packages left out on
# purpose: the CUDA-only ones in cpu, torch as well in none), and torch must import
# where it is installed.
problems="$(pip check || true)"
if [[ "$variant" == cpu ]]; then
    problems="$(grep -v -E "requires (nvidia-[a-z0-9-]+|cuda-[a-z-]+|triton), which is not installed" <<< "$problems" || true)"
elif [[ "$variant" == none ]]; then
    problems="$(grep -v -E "requires (torch|torchvision|nvidia-[a-z0-9-]+|cuda-[a-z-]+|triton), which is not installed" <<< "$problems" || true)"
fi
if [[ -n "$problems" && "$problems" != "No broken requirements found." ]]; then
    echo "$problems" >&2
    exit 1
fi
if [[ "$variant" == none ]]; then
    python -c 'import cv2, grpc, numpy; print("image-deps.sh: no torch; numpy", numpy.__version__, "opencv", cv2.__version__)'
else
    python -c 'import torch, torchvision; print("image-deps.sh:", "torch", torch.__version__, "torchvision", torchvision.__version__)'
fi
