"""docker/: no Docker engine runs here, so the files are checked for what can be checked without one: the compose
file parses and wires the ward together, each node's config is a valid painwatch config, the one-shot repository
step's exact command runs, and the cot-node image installs no training code, TensorFlow nor onnxruntime-gpu."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from service.config.settings import settings_from_dict
from service.inference.triton_repo import CONFIG_FILE, read_config

DOCKER = Path(__file__).resolve().parents[2] / "docker"
COMPOSE = DOCKER / "compose.ward.yaml"
NODES = ("cot-1", "cot-2", "ward-view")


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def test_compose_wires_postgres_triton_two_cots_and_a_ward_view() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "triton-repo", "triton", *NODES}
    triton = services["triton"]
    assert triton["image"].startswith("nvcr.io/nvidia/tritonserver:") and triton["image"].endswith("-py3")
    assert "--model-repository=/models" in triton["command"] and "--grpc-use-ssl=true" in triton["command"]
    assert "triton-repo:/models:ro" in triton["volumes"]
    for name in NODES:
        node = services[name]
        assert node["build"]["dockerfile"] == "docker/Dockerfile.node"
        assert set(node["depends_on"]) == {"postgres", "triton"}
        assert f"./ward/{name}.yaml:/config/painwatch.yaml:ro" in node["volumes"]
        assert node["environment"]["PAINWATCH_STORE__URL"].startswith("postgresql+psycopg://painwatch:")


@pytest.mark.parametrize("name", NODES)
def test_each_node_config_is_a_valid_triton_node(name: str) -> None:
    data = yaml.safe_load((DOCKER / "ward" / f"{name}.yaml").read_text(encoding="utf-8"))
    data["store"] = {"url": "postgresql+psycopg://painwatch:x@postgres/painwatch"}  # from the environment there
    settings = settings_from_dict(data)
    assert settings.node is not None and settings.node.id == name
    assert settings.model.backend == "triton" and settings.model.triton.url == "triton:8001"
    assert settings.model.triton.tls and settings.model.triton.root_certificates == Path("/tls/ca.pem")
    assert settings.model.max_batch <= 32  # the repository step's --max-batch
    assert [bed.id for bed in settings.beds] == ([] if name == "ward-view" else [name])


def test_the_repository_step_of_compose_runs(model_dir: Path, tmp_path: Path) -> None:
    """The `triton-repo` service's exact command, on a copy of an export named like the compose file expects."""
    from service.main import _app

    step = compose()["services"]["triton-repo"]
    assert step["entrypoint"] == ["painwatch", "models", "triton-repo"]
    shutil.copytree(model_dir, tmp_path / "models" / "ward-model" / "1")
    args = [{"/models": str(tmp_path / "models"), "/repo": str(tmp_path / "repo")}.get(a, a) for a in step["command"]]
    result = CliRunner().invoke(_app, ["models", "triton-repo", *args])
    assert result.exit_code == 0, result.output
    config = read_config(tmp_path / "repo" / "ward-model" / CONFIG_FILE)
    assert config.backend == "onnxruntime" and config.max_batch_size == 32  # type: ignore[attr-defined]
    assert config.instance_group[0].kind == 1  # type: ignore[attr-defined]  # KIND_GPU


def test_the_node_image_has_no_training_code_nor_gpu_runtime() -> None:
    dockerfile = (DOCKER / "Dockerfile.node").read_text(encoding="utf-8")
    instructions = [line for line in dockerfile.splitlines() if line and not line.startswith("#")]
    copies = [line.split()[1] for line in instructions if line.startswith("COPY")]
    assert copies == ["pyproject.toml", "service"]  # no training/, no exported_models (mounted)
    assert "onnxruntime-gpu" not in "\n".join(instructions) and "[training]" not in "\n".join(instructions)
    assert 'ENTRYPOINT ["painwatch", "serve"]' in instructions
