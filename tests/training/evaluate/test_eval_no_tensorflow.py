"""`painwatch eval-video` runs without TensorFlow (the service image has none)."""

from __future__ import annotations

import subprocess
import sys


def test_eval_video_imports_no_tensorflow() -> None:
    code = (
        "import sys\n"
        "import training.evaluate.cli, training.evaluate.manifest_truth, training.evaluate.report\n"
        "import service.evaluation.replay, service.evaluation.evaluate\n"
        "from service.main import app\n"
        "sys.argv = ['painwatch', 'eval-video', '--help']\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf2onnx')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert "--truth" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "[]"
