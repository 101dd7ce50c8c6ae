"""First-start admin (environment and random password), Argon2, and the TLS refusal (exit 2).

Sessions: test_sessions.py.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from service.auth import Role, UserDirectory
from service.auth.passwords import hash_password, verify_password
from service.config.settings import ServerConfig
from service.store import Store


def test_argon2_hash_and_verify() -> None:
    hashed = hash_password("correct horse")
    assert hashed.startswith("$argon2id$") and "correct horse" not in hashed
    assert verify_password(hashed, "correct horse") and not verify_password(hashed, "correct horsE")
    assert not verify_password(None, "correct horse") and not verify_password("not-a-hash", "x")


def test_first_start_admin_from_env_then_random(tmp_path: Path, monkeypatch, caplog) -> None:
    monkeypatch.setenv("PAINWATCH_ADMIN_PASSWORD", "from-the-environment")
    store = Store.open(f"sqlite:///{tmp_path / 'env.db'}")
    users = UserDirectory(store)
    assert users.ensure_admin() is None  # nothing to print: the password came from the environment
    creds = users.credentials("admin")
    assert creds is not None and creds.user.role == Role.ADMIN
    assert verify_password(creds.password_hash, "from-the-environment")
    assert users.ensure_admin() is None and len(users.list()) == 1  # second start: nothing changes
    store.close()

    monkeypatch.delenv("PAINWATCH_ADMIN_PASSWORD")
    store = Store.open(f"sqlite:///{tmp_path / 'random.db'}")
    users = UserDirectory(store)
    with caplog.at_level(logging.INFO):
        password = users.ensure_admin()
    assert password is not None and len(password) >= 16
    assert verify_password(users.credentials("admin").password_hash, password)  # type: ignore[union-attr]
    assert password not in caplog.text and "printed once on the console" in caplog.text
    assert [(a.who, a.action, a.details["password"]) for a in store.audit_entries()] == [
        ("system", "user.create", "random")
    ]
    store.close()


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "::", "nicu-server.local"])
def test_non_loopback_needs_tls_or_a_proxy(host: str) -> None:
    with pytest.raises(ValueError, match="refusing to serve on non-loopback address"):
        ServerConfig(host=host)
    assert ServerConfig(host=host, behind_tls_proxy=True).host == host
    assert ServerConfig(host=host, tls_certfile=Path("c.pem"), tls_keyfile=Path("k.pem")).tls
    for loopback in ("127.0.0.1", "::1", "localhost"):
        assert not ServerConfig(host=loopback).tls


def test_serve_on_0_0_0_0_without_tls_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("beds: [{id: a, scale: DAN, source: {type: camera, device: 0}}]\nserver: {host: 0.0.0.0}\n")
    result = subprocess.run(
        [sys.executable, "-c", "from training.cli import app; app()", "serve", "--config", str(config)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "server" in result.stderr and "refusing to serve on non-loopback address '0.0.0.0'" in result.stderr
    assert "server.tls_certfile" in result.stderr and "behind_tls_proxy" in result.stderr
