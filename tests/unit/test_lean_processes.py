"""The services that run no model stay lean: gateway and compositing never import torch.

Each is built in a fresh interpreter the way ``fittingroom-serve`` builds it (its
service module, servicer registered on a real gRPC server, loader run) and serves
one call through its gRPC door (compositing: a real Composite over the local object
store; gateway: a Get), then the process's ``sys.modules`` is read. What torch costs a process is measured by
``fittingroom bench memory`` (README: Process memory).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = Path(__file__).with_name("lean_process_probe.py")
# What each lean service may not hold after its first call; the gateway does no image maths at all.
FORBIDDEN = {
    "compositing": {"torch", "torchvision", "scipy", "skimage", "matplotlib", "ai_edge_litert"},
    "gateway": {"torch", "torchvision", "cv2", "scipy", "skimage", "matplotlib", "ai_edge_litert"},
}
OUTCOME = {"compositing": "composited", "gateway": "NOT_FOUND"}


def _probe(service: str, store: Path) -> dict:
    done = subprocess.run([sys.executable, str(PROBE), service, str(store)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("service", sorted(FORBIDDEN))
def test_a_service_without_a_model_serves_a_call_without_loading_heavy_libraries(service, tmp_path):
    report = _probe(service, tmp_path)
    assert report["outcome"] == OUTCOME[service]
    assert not FORBIDDEN[service] & set(report["modules"]), report["modules"]


def test_the_probe_sees_torch_where_a_model_service_loads_it(tmp_path):
    """The same reading on a model service's import: the check above is not blind."""
    code = "import sys, fittingroom.style.service; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "True", done.stderr
