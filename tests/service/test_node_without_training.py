"""A cot node's image has the service but not the training package: the `painwatch` command (service/main.py) must
still work there, with the service commands and without the training ones."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# Runs in a fresh interpreter: a meta-path finder first in line makes `training` (and its submodules) unimportable,
# as on a node where the package is not installed, then runs the console script's entry with the given arguments.
HIDE_TRAINING = """
import sys
class HideTraining:
    def find_spec(self, name, path=None, target=None):
        if name == "training" or name.startswith("training."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, HideTraining())
from service.main import app
sys.argv = ["painwatch", *sys.argv[1:]]
try:
    app()
finally:
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("training", "tensorflow", "keras"))
    print("LOADED", loaded)
"""


def painwatch_without_training(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", HIDE_TRAINING, *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_the_command_has_the_service_commands_and_not_the_training_ones() -> None:
    result = painwatch_without_training("--help")
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith("│ ")]
    commands = {row[1] for row in rows if len(row) > 1}
    assert {"serve", "doctor", "models", "audit"} <= commands
    assert not commands & {"data", "train", "model", "export", "eval-video"}
    assert result.stdout.strip().splitlines()[-1] == "LOADED []"


def test_service_commands_run_without_the_training_package(model_dir: Path, tmp_path: Path) -> None:
    """`models list` and `models triton-repo` (what a node needs to publish its export) really run."""
    root = model_dir.parent.parent
    listed = painwatch_without_training("models", "list", "--root", str(root))
    assert listed.returncode == 0, listed.stderr
    assert f"{model_dir.parent.name}/{model_dir.name}" in listed.stdout

    unknown = painwatch_without_training("train", "--help")
    assert unknown.returncode == 2 and "No such command 'train'" in unknown.stderr

    serve_help = painwatch_without_training("serve", "--help")
    assert serve_help.returncode == 0 and "--config" in serve_help.stdout
    assert serve_help.stdout.strip().splitlines()[-1] == "LOADED []"


def test_with_the_training_package_the_training_commands_are_there() -> None:
    code = "import sys\nfrom service.main import app\nsys.argv = ['painwatch', '--help']\napp()\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    for command in ("serve", "doctor", "models", "audit", "data", "train", "model", "export", "eval-video"):
        assert f"│ {command} " in result.stdout, command
