"""A real NVIDIA Triton Inference Server for tests: the `tritonserver` 2.51 that the nvidia-pytriton wheel ships.

`make triton` provisions it in build/triton-venv (PAINWATCH_TEST_TRITON_VENV overrides): a venv of Debian's own
python3.11, because the wheel's Python-backend stub links Debian's libpython3.11 and fails under another 3.11 build,
with nvidia-pytriton, onnxruntime and numpy. That build has only the Python backend, so the tests publish models with
`--backend python` (onnxruntime inside Triton); the client side, the config.pbtxt and every check are the same as
for the ONNX Runtime backend of a GPU server. The server listens on loopback only, on free ports.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.ci import require_or_skip
from tests.support.network import free_port

REPO = Path(__file__).resolve().parents[2]
VENV_ENV = "PAINWATCH_TEST_TRITON_VENV"
STUB_PYTHON = "3.11"


def triton_venv() -> Path:
    return Path(os.environ.get(VENV_ENV) or REPO / "build" / "triton-venv")


def server_package() -> Path | None:
    """The pytriton package folder of the provisioned venv (holding tritonserver/), or None."""
    found = sorted(triton_venv().glob("lib/python3*/site-packages/pytriton/tritonserver/bin/tritonserver"))
    return found[0].parents[2] if found else None


def require_triton() -> Path:
    package = server_package()
    if package is None:
        require_or_skip(f"no Triton server in {triton_venv()}: run `make triton`")
    return package


@dataclass
class TritonServer:
    """`tritonserver` on a model repository, started by `start()` and ended by `stop()` (this process's child)."""

    repository: Path
    workdir: Path
    grpc_port: int = field(default_factory=free_port)
    tls: tuple[Path, Path] | None = None
    """(certificate, key): gRPC over TLS with this certificate (its own CA in the tests)."""
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def log(self) -> Path:
        return self.workdir / "tritonserver.log"

    def start(self, timeout_s: float = 120.0, extra_args: tuple[str, ...] = ()) -> TritonServer:
        package = require_triton()
        backends = self.workdir / "backends"
        if not backends.is_dir():  # the Python backend with the stub for the venv's Python, as pytriton lays it out
            shutil.copytree(package / "tritonserver" / "backends", backends)
            stub = package / "tritonserver" / "python_backend_stubs" / STUB_PYTHON / "triton_python_backend_stub"
            shutil.copy2(stub, backends / "python" / "triton_python_backend_stub")
        venv_bin = triton_venv() / "bin"
        env = {
            **os.environ,
            # the stub's embedded Python finds the venv (numpy, onnxruntime) through the first python3 on PATH
            "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}",
            "LD_LIBRARY_PATH": str(package.parent / "nvidia_pytriton.libs"),
        }
        args = [
            str(package / "tritonserver" / "bin" / "tritonserver"),
            f"--model-repository={self.repository}",
            f"--backend-directory={backends}",
            "--grpc-address=127.0.0.1",
            f"--grpc-port={self.grpc_port}",
            "--allow-http=false",
            "--allow-metrics=false",
            "--exit-timeout-secs=5",
            *extra_args,
        ]
        if self.tls is not None:
            certificate, key = self.tls
            args += ["--grpc-use-ssl=true", f"--grpc-server-cert={certificate}", f"--grpc-server-key={key}"]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
        self._wait_ready(timeout_s)
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        import tritonclient.grpc as grpcclient

        ca = str(self.tls[0]) if self.tls is not None else None
        client = grpcclient.InferenceServerClient(self.url, ssl=self.tls is not None, root_certificates=ca)
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise RuntimeError(f"tritonserver exited with {self.process.returncode}:\n{self.log_tail()}")
                try:
                    if client.is_server_ready(client_timeout=2):
                        return
                except Exception:
                    pass  # not listening yet
                time.sleep(0.3)
        finally:
            client.close()
        self.stop()
        raise RuntimeError(f"tritonserver not ready within {timeout_s:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
