"""The Triton backend: the shared engine sends its micro-batches to an NVIDIA Triton Inference Server over gRPC.

The exported model folder under model.root stays the source of truth: its card, `model.sha256` and reference set
are read here, and Triton must serve the very same file. `painwatch models triton-repo` writes the Triton model
repository (service/inference/triton_repo.py) and records each version's SHA-256 in the model's config.pbtxt as
parameter `painwatch_sha256_v<version>`; loading refuses a Triton model whose recorded hash differs from the local
file's, or that has none, then runs the warm-up and the reference set through Triton itself, so a server that
answers differently (another file, another precision, a broken accelerator) is refused like a bad local file.

Triton model name and version = the exported folder's `<name>/<version>` (the version must be a whole number, as
Triton's are). A failed or timed-out request fails that batch only: its beds report `model_error` (and, after
alerts.model_error_after_s, a technical alert); the gRPC channel reconnects by itself when the server is back.
An unreachable server is retried (`retries`, within the batch's `timeout_s`); after `breaker_failures` failed
batches in a row a circuit breaker (service/inference/breaker.py) fails batches at once with the reason for
`breaker_cooldown_s`, then lets one through; meanwhile the supervisor shows the `triton_unavailable` condition.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.files import file_sha256
from service.inference.breaker import CircuitBreaker, CircuitState
from service.inference.model import (
    GRADCAM,
    INPUT_NAME,
    INPUT_SIZE,
    N_CLASSES,
    PROBS,
    ModelLoadError,
    ServingModel,
    check_warm_up_outputs,
    read_card_file,
    resolve_model_file,
)
from service.inference.provenance import provenance_problem
from service.model_card import ModelCard
from service.paths import ConfigPath

logger = logging.getLogger(__name__)

SHA_PARAMETER_PREFIX: Final = "painwatch_sha256_v"
"""config.pbtxt parameter holding the SHA-256 of one version's model.onnx (written by `painwatch models
triton-repo`)."""
_REPO_HINT: Final = "write the repository with `painwatch models triton-repo` and start Triton on it"


def sha_parameter(version: str) -> str:
    return f"{SHA_PARAMETER_PREFIX}{version}"


class TritonConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        default="127.0.0.1:8001",
        description="gRPC address (host:port) of the Triton Inference Server. Off loopback it needs `tls: true`: "
        "the face crops of the infants cross the network.",
    )
    timeout_s: float = Field(
        default=5.0,
        gt=0,
        description="Longest wait for one batch's answer; a slower or failed request fails that batch only (its "
        "beds report model_error). At most model.infer_timeout_s.",
    )
    retries: int = Field(
        default=1,
        ge=0,
        le=5,
        description="Retries of a batch whose request found Triton unreachable (not of a timed-out one), within "
        "the same timeout_s.",
    )
    breaker_failures: int = Field(
        default=3,
        ge=1,
        description="Failed batches in a row after which the circuit opens: batches fail at once with the reason "
        "(their beds show model_error) instead of each waiting for Triton.",
    )
    breaker_cooldown_s: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="How long an open circuit refuses batches before one is let through to try Triton again.",
    )
    tls: bool = Field(default=False, description="Speak gRPC over TLS (Triton started with --grpc-use-ssl=true).")
    root_certificates: ConfigPath | None = Field(
        default=None,
        description="PEM file of the CA that signed Triton's certificate (with tls; null: the system's CAs).",
    )

    @property
    def host(self) -> str:
        return urlsplit(f"//{self.url}").hostname or ""

    @model_validator(mode="after")
    def _host_and_port(self) -> TritonConfig:
        try:
            port = urlsplit(f"//{self.url}").port
        except ValueError as exc:
            raise ValueError(f"url {self.url!r}: {exc}") from exc
        if "/" in self.url or not self.host or port is None:
            raise ValueError(f"url {self.url!r} is not host:port (e.g. 127.0.0.1:8001; no scheme, no path)")
        return self

    @model_validator(mode="after")
    def _tls_off_loopback(self) -> TritonConfig:
        from service.config.settings import is_loopback  # the one definition of loopback

        if not self.tls and not is_loopback(self.host):
            raise ValueError(
                f"refusing to send infants' face crops to {self.url} in clear text: set tls: true (Triton with "
                "--grpc-use-ssl) and root_certificates, or run Triton on this host (127.0.0.1)"
            )
        if self.root_certificates is not None and not self.tls:
            raise ValueError("root_certificates is set but tls is false: set tls: true")
        return self


class TritonModelError(ModelLoadError):
    """Triton is unreachable, does not serve the model, or serves something else."""


class TritonUnavailable(RuntimeError):
    """A batch Triton did not answer (unreachable, timed out, or the circuit is open); its beds show model_error."""


@dataclass(frozen=True)
class TritonStatus:
    """Which Triton serves the beds, and whether it answers now (for /api/model, /readyz and the dashboard)."""

    url: str
    model: str
    version: str
    max_batch_size: int
    circuit: CircuitState
    problem: str | None


@dataclass(frozen=True)
class TritonModel(ServingModel):
    """A model served by Triton, checked against the local exported folder."""

    triton_name: str
    triton_version: str
    max_batch_size: int
    """Triton's max_batch_size for the model: larger batches (a reference set) go in several requests."""
    url: str
    _client: Any = field(repr=False)
    _config: TritonConfig = field(repr=False)
    _breaker: CircuitBreaker = field(repr=False)

    def run(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One batch through Triton, or TritonUnavailable at once while the circuit is open."""
        refusal = self._breaker.refusal()
        if refusal is not None:
            raise TritonUnavailable(f"Triton at {self.url}: {refusal}")
        try:
            if len(images) <= self.max_batch_size:
                outputs = self._request(images)
            else:
                step = self.max_batch_size
                parts = [self._request(images[i : i + step]) for i in range(0, len(images), step)]
                outputs = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        except Exception as exc:
            self._breaker.failed(_first_line(exc))
            raise
        self._breaker.succeeded()
        return outputs

    def status(self) -> TritonStatus:
        state = self._breaker.status()
        problem = None if state.state == "closed" else self._breaker.problem()
        return TritonStatus(self.url, self.triton_name, self.triton_version, self.max_batch_size, state.state, problem)

    def backend_problem(self) -> str | None:
        """For the supervisor's probe: None while Triton answers; once the cool-down is over, asks Triton whether
        the model is ready (a short call) so that the condition clears even when no bed has a face to send."""
        if self._breaker.problem() is None:
            return None
        if self._breaker.refusal() is None:  # this probe is the trial call
            try:
                ready = self._client.is_model_ready(
                    self.triton_name, self.triton_version, client_timeout=min(1.0, self._config.timeout_s)
                )
            except Exception as exc:
                self._breaker.failed(_first_line(exc))
            else:
                if ready:
                    self._breaker.succeeded()
                else:
                    self._breaker.failed(f"model {self.triton_name}/{self.triton_version} is not ready")
        problem = self._breaker.problem()
        if problem is None:
            return None
        return f"Triton at {self.url}, model {self.triton_name}/{self.triton_version}: {problem}"

    def _request(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One request; an unreachable server is retried (config.retries) while the batch's timeout allows."""
        from tritonclient.utils import InferenceServerException

        deadline = time.monotonic() + self._config.timeout_s
        for attempt in range(self._config.retries + 1):
            remaining = deadline - time.monotonic()
            try:
                return self._infer(images, remaining)
            except InferenceServerException as exc:
                unreachable = "UNAVAILABLE" in str(exc.status())
                pause = 0.05 * 2**attempt
                if not unreachable or attempt == self._config.retries or remaining - pause <= 0.05:
                    raise TritonUnavailable(f"Triton at {self.url}: {_first_line(exc)}") from exc
                logger.info("Triton at %s unreachable (%s); retrying", self.url, _first_line(exc))
                time.sleep(pause)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _infer(self, images: np.ndarray, timeout_s: float) -> tuple[np.ndarray, np.ndarray]:
        from tritonclient.grpc import InferInput, InferRequestedOutput

        request = InferInput(INPUT_NAME, list(images.shape), "FP32")
        request.set_data_from_numpy(np.ascontiguousarray(images, dtype=np.float32))
        result = self._client.infer(
            self.triton_name,
            [request],
            model_version=self.triton_version,
            outputs=[InferRequestedOutput(PROBS), InferRequestedOutput(GRADCAM)],
            client_timeout=max(0.05, timeout_s),
        )
        probs, maps = result.as_numpy(PROBS), result.as_numpy(GRADCAM)
        n = images.shape[0]
        if probs is None or maps is None or probs.shape != (n, N_CLASSES) or maps.shape[:2] != (n, N_CLASSES):
            raise RuntimeError(
                f"Triton answered shapes {getattr(probs, 'shape', None)} and {getattr(maps, 'shape', None)} for a "
                f"batch of {n}"
            )
        return probs, maps


def triton_name_and_version(model_file: Path) -> tuple[str, str]:
    """`<name>/<version>/model.onnx` -> (name, version); Triton needs a whole-number version."""
    version, name = model_file.parent.name, model_file.parent.parent.name
    if not version.isdigit() or int(version) < 1:
        raise TritonModelError(
            f"{model_file.parent}: Triton model versions are whole numbers from 1; this folder is version "
            f"{version!r} (export it as <name>/<number>)"
        )
    return name, str(int(version))


def connect(config: TritonConfig) -> Any:
    """A gRPC client (connects lazily; nothing is sent yet)."""
    from tritonclient.grpc import InferenceServerClient

    certificates = str(config.root_certificates) if config.root_certificates is not None else None
    return InferenceServerClient(config.url, ssl=config.tls, root_certificates=certificates)


def load_triton_model(path: Path, config: TritonConfig, max_batch: int = 1) -> TritonModel:
    """Check that Triton serves the exported model at `path` (same file, contract, room for `max_batch` crops per
    request), then warm it up and run its reference set through Triton; raise TritonModelError if not."""
    model_file = resolve_model_file(path)
    name, version = triton_name_and_version(model_file)
    card = read_card_file(model_file)
    client = connect(config)
    try:
        return _check_and_warm_up(client, config, model_file, name, version, card, max_batch)
    except BaseException:
        client.close()
        raise


def _check_and_warm_up(
    client: Any, config: TritonConfig, model_file: Path, name: str, version: str, card: ModelCard, max_batch: int
) -> TritonModel:
    where = f"Triton at {config.url}"
    _check_live(client, config, where)
    if not _call(client.is_model_ready, where, name, version, client_timeout=config.timeout_s):
        raise TritonModelError(f"{where} has no ready model {name!r} version {version}; {_REPO_HINT}")
    triton_config = _call(client.get_model_config, where, name, version, as_json=True, client_timeout=config.timeout_s)
    model_config = triton_config.get("config", triton_config)
    metadata = _call(client.get_model_metadata, where, name, version, as_json=True, client_timeout=config.timeout_s)
    sha = file_sha256(model_file)
    problem = _config_problem(model_config, version, sha, max_batch) or _metadata_problem(metadata)
    if problem is not None:
        raise TritonModelError(f"{where}, model {name}/{version}: {problem}")
    grid = int(_output(metadata, GRADCAM)["shape"][-1])
    model = TritonModel(
        card=card,
        path=model_file,
        providers=[_describe(config, name, version, model_config)],
        grid=grid,
        warmup_ms=0.0,
        loaded_at=time.time(),
        sha256=sha,
        triton_name=name,
        triton_version=version,
        max_batch_size=int(model_config.get("max_batch_size", 0)),
        url=config.url,
        _client=client,
        _config=config,
        _breaker=CircuitBreaker(config.breaker_failures, config.breaker_cooldown_s),
    )
    started = time.perf_counter()
    dummy = np.full((1, INPUT_SIZE, INPUT_SIZE, 3), 128.0, np.float32)
    try:
        probs, maps = model.run(dummy)
    except Exception as exc:
        raise TritonModelError(f"{where}, model {name}/{version}: warm-up failed: {_first_line(exc)}") from exc
    check_warm_up_outputs(probs, maps, f"{where}, model {name}/{version}")
    warmup_ms = (time.perf_counter() - started) * 1000.0
    try:
        problem = provenance_problem(model_file, model.run)
    except Exception as exc:  # Triton went away or timed out during the reference set
        raise TritonModelError(f"{where}, model {name}/{version}: reference set failed: {_first_line(exc)}") from exc
    if problem is not None:
        raise TritonModelError(f"{where}, model {name}/{version} (checked against {model_file}): {problem}")
    logger.info("model %s/%s served by %s (%s; warm-up %.0f ms)", name, version, where, model.providers[0], warmup_ms)
    return replace(model, warmup_ms=warmup_ms)


def server_problem(config: TritonConfig) -> str | None:
    """Why Triton cannot be used right now (unreachable or not live), or None."""
    client = connect(config)
    try:
        _check_live(client, config, f"Triton at {config.url}")
    except TritonModelError as exc:
        return str(exc)
    finally:
        client.close()
    return None


def _check_live(client: Any, config: TritonConfig, where: str) -> None:
    """Live is enough: Triton's server readiness also fails for another model of the repository that did not load;
    ours is asked about by name."""
    if not _call(client.is_server_live, where, client_timeout=config.timeout_s):
        raise TritonModelError(f"{where} is not live")


def _call(method: Any, where: str, *args: Any, **kwargs: Any) -> Any:
    from tritonclient.utils import InferenceServerException

    try:
        return method(*args, **kwargs)
    except InferenceServerException as exc:
        raise TritonModelError(f"{where}: {_first_line(exc)}") from exc


def _config_problem(config: dict[str, Any], version: str, sha: str, max_batch: int) -> str | None:
    recorded = config.get("parameters", {}).get(sha_parameter(version), {}).get("string_value")
    if not recorded:
        return (
            f"its config.pbtxt records no SHA-256 for version {version} (parameter {sha_parameter(version)}), so "
            f"nothing says it is the checked file; {_REPO_HINT}"
        )
    if recorded != sha:
        return (
            f"Triton serves another file: its config records sha256 {recorded[:16]}..., the local model.onnx is "
            f"{sha[:16]}...; rewrite the repository with `painwatch models triton-repo` and reload it in Triton"
        )
    batch = int(config.get("max_batch_size", 0))
    if batch < max_batch:
        return (
            f"max_batch_size is {batch} but model.max_batch is {max_batch}: batches would be refused; lower "
            f"model.max_batch or rewrite the repository with --max-batch {max_batch}"
        )
    return None


def _metadata_problem(metadata: dict[str, Any]) -> str | None:
    inputs = metadata.get("inputs", [])
    if [i.get("name") for i in inputs] != [INPUT_NAME]:
        return f"inputs are {[i.get('name') for i in inputs]}, the contract needs [{INPUT_NAME!r}]"
    expected = {
        INPUT_NAME: (inputs[0], [INPUT_SIZE, INPUT_SIZE, 3]),
        PROBS: (_output(metadata, PROBS), [N_CLASSES]),
    }
    for name, (tensor, dims) in expected.items():
        if not tensor:
            return f"output {name!r} is missing (outputs: {[o.get('name') for o in metadata.get('outputs', [])]})"
        shape = [int(d) for d in tensor.get("shape", [])]
        if tensor.get("datatype") != "FP32" or shape[1:] != dims or shape[:1] != [-1]:
            return f"{name!r} is {tensor.get('datatype')} {shape}; the contract needs FP32 [-1, {dims}]"
    cam = _output(metadata, GRADCAM)
    if not cam:
        return f"output {GRADCAM!r} is missing"
    shape = [int(d) for d in cam.get("shape", [])]
    square = len(shape) == 4 and shape[2] == shape[3] and shape[2] >= 1
    if cam.get("datatype") != "FP32" or not square or shape[1] != N_CLASSES:
        return f"{GRADCAM!r} is {cam.get('datatype')} {shape}; the contract needs FP32 [-1, 2, G, G]"
    return None


def _output(metadata: dict[str, Any], name: str) -> dict[str, Any]:
    return next((o for o in metadata.get("outputs", []) if o.get("name") == name), {})


def _describe(config: TritonConfig, name: str, version: str, model_config: dict[str, Any]) -> str:
    backend = model_config.get("backend") or model_config.get("platform") or "?"
    kinds = sorted({g.get("kind", "KIND_AUTO").removeprefix("KIND_") for g in model_config.get("instance_group", [])})
    return f"triton {config.url} {name}/{version} ({backend} on {'+'.join(kinds) or 'AUTO'})"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
