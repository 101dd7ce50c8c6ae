"""The engine's ONNX Runtime settings: physical cores unless configured, no spinning, sequential, all optimisations."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort
import pytest
from pydantic import ValidationError

from service.config.settings import ModelConfig
from service.inference import InferenceEngine
from service.inference.model import physical_cores, session_options

pytestmark = pytest.mark.timeout(180)


def test_physical_cores_is_at_least_one_and_at_most_the_cpus() -> None:
    import os

    assert 1 <= physical_cores() <= len(os.sched_getaffinity(0))


def test_session_options_are_deliberate() -> None:
    options = session_options()
    assert options.intra_op_num_threads == physical_cores()
    assert options.inter_op_num_threads == 1
    assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert options.enable_cpu_mem_arena and options.enable_mem_pattern
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert session_options(3).intra_op_num_threads == 3


def test_configured_threads_reach_the_engine_and_survive_a_reload(model_dir: Path) -> None:
    engine = InferenceEngine(model_dir, ["CPUExecutionProvider"], intra_op_threads=1)
    assert engine.model.session.get_session_options().intra_op_num_threads == 1
    engine.reload(model_dir)
    assert engine.model.session.get_session_options().intra_op_num_threads == 1


def test_config_key_defaults_to_physical_cores() -> None:
    assert ModelConfig().intra_op_threads is None
    assert ModelConfig(intra_op_threads=2).intra_op_threads == 2
    with pytest.raises(ValidationError, match="intra_op_threads"):
        ModelConfig(intra_op_threads=0)
