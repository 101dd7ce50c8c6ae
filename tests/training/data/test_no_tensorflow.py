"""The data pipeline and the shared vision code must work without importing TensorFlow."""

import subprocess
import sys

DATA_MODULES = [
    "service.main",
    "training.data.cli",
    "training.data.manifest",
    "training.data.plan",
    "training.data.extract",
    "training.data.labels",
    "training.data.crops",
    "training.data.images",
    "training.data.compare",
    "training.data.demo",
    "training.data.synth.cohort",
    "service.vision.detectors",
    "service.vision.crop",
]


def test_data_modules_and_detector_do_not_import_tensorflow() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {DATA_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "from service.vision.detectors import create_detector\n"
        "create_detector('mediapipe-short').close()\n"  # mediapipe would pull TF in for its docs helper
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf2onnx')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_data_help_runs_without_tensorflow() -> None:
    code = (
        "import sys\n"
        "from service.main import app\n"
        "sys.argv = ['painwatch', 'data', '--help']\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "print('TF' if 'tensorflow' in sys.modules else 'no TF')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "plan" in result.stdout and "extract" in result.stdout and "crop" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "no TF"
