from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner


def test_help_does_not_import_tensorflow() -> None:
    code = (
        "import sys\n"
        "from service.main import _app\n"
        "from typer.testing import CliRunner\n"
        "result = CliRunner().invoke(_app, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "assert 'export' in result.output\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf2onnx'))\n"
        "print(heavy[:5])\n"
        "sys.exit(1 if heavy else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_model_summary_prints_trainable_count() -> None:
    from service.main import _app

    result = CliRunner().invoke(_app, ["model", "summary", "--input-size", "64"])
    assert result.exit_code == 0, result.output
    assert "trainable parameters: 10,230,274" in result.output.splitlines()
    assert "conv5_3" in result.output and "(None, 4, 4, 512)" in result.output


def test_export_int8_needs_calibration(tmp_path) -> None:
    from service.main import _app

    result = CliRunner().invoke(_app, ["export", str(tmp_path), "-o", str(tmp_path / "o"), "--int8"])
    assert result.exit_code != 0
    assert "--calibration" in str(result.exception)
