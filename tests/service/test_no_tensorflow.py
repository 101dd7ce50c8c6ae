"""The service never imports TensorFlow or the training package (beyond the root CLI's TF-free commands)."""

from __future__ import annotations

import subprocess
import sys


def test_service_api_and_serve_import_no_tensorflow() -> None:
    code = (
        "import sys\n"
        "import service.api, service.serve, service.pipeline.worker, service.inference\n"
        "from service.main import app\n"
        "sys.argv = ['painwatch', 'serve', '--help']\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf2onnx'))\n"
        "print('FORBIDDEN', bad)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert "--config" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "FORBIDDEN []"


def test_service_package_does_not_import_training() -> None:
    code = (
        "import sys\n"
        "import service.api, service.serve, service.config, service.demo_video\n"
        "import service.evaluation.replay, service.evaluation.evaluate, service.synthetic.cues\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'training'))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.strip().splitlines()[-1] == "[]"
