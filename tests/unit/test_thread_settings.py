"""The thread settings reach the libraries a service process has loaded, and load nothing else."""

from __future__ import annotations

import json
import subprocess
import sys

PIN_AND_READ = """
import json, sys
import cv2, torch
from fittingroom.serving.runner import pin_threads
from fittingroom.settings import Settings
pin_threads(Settings.from_env({"FITTINGROOM_TORCH_THREADS": "3", "FITTINGROOM_TORCH_INTEROP_THREADS": "2",
                                "FITTINGROOM_OPENCV_THREADS": "1"}))
print(json.dumps([torch.get_num_threads(), torch.get_num_interop_threads(), cv2.getNumThreads()]))
"""

PIN_WITHOUT_LIBRARIES = """
import json, sys
from fittingroom.serving.runner import pin_threads
from fittingroom.settings import Settings
pin_threads(Settings(torch_threads=3, torch_interop_threads=2, opencv_threads=1))
print(json.dumps(sorted(m for m in ("torch", "cv2") if m in sys.modules)))
"""


def _run(code: str):
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_thread_settings_size_torch_and_opencv_pools():
    assert _run(PIN_AND_READ) == [3, 2, 1]


def test_pinning_threads_imports_no_library_the_service_has_not_loaded():
    assert _run(PIN_WITHOUT_LIBRARIES) == []
