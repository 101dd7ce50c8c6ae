"""Loopback helpers for tests and benches that start real servers: free ports and waiting for things to happen."""

from __future__ import annotations

import socket
import ssl
import subprocess
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    what: str,
    check: Callable[[], T],
    timeout_s: float = 60.0,
    every_s: float = 0.25,
    log: Callable[[], str] | None = None,
) -> T:
    """Poll `check` until it returns something truthy and return that; past `timeout_s` fail (AssertionError) naming
    `what`, with the tail of `log()` when given."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            tail = log()[-3000:] if log is not None else ""
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}\n{tail}")
        time.sleep(every_s)


def answers_ok(url: str, verify: ssl.SSLContext | bool = True, timeout_s: float = 2.0) -> bool:
    """True when `url` answers 200 now; False when it answers otherwise or not at all."""
    try:
        return httpx.get(url, timeout=timeout_s, verify=verify).status_code == 200
    except httpx.TransportError:
        return False


def wait_until_answering(
    url: str,
    process: subprocess.Popen[Any],
    timeout_s: float = 90.0,
    log: Callable[[], str] | None = None,
    verify: ssl.SSLContext | bool = True,
) -> None:
    """Wait until the server started as `process` answers 200 at `url` (its /healthz or /readyz); fail at once,
    with its log, if the process exits meanwhile."""

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the process exited with {process.returncode}\n{log()[-3000:] if log else ''}")
        return answers_ok(url, verify)

    wait_for(f"{url} to answer 200", up, timeout_s, every_s=0.3, log=log)
