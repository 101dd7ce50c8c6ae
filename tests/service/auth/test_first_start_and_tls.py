"""First-start admin (environment, or a random password in a 0600 file that must be changed), Argon2, the TLS
refusal (exit 2), and a real service over TLS (HSTS, Secure cookie, WSS) on its first start.

Sessions: test_sessions.py.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import ssl
import stat
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import websockets

from service.auth import Role, UserDirectory
from service.auth.passwords import hash_password, verify_password
from service.auth.users import write_private_file
from service.config.settings import ServerConfig
from service.demo_video import write_demo_video
from service.store import Store
from tests.support.cli import PAINWATCH


def test_argon2_hash_and_verify() -> None:
    hashed = hash_password("correct horse")
    assert hashed.startswith("$argon2id$") and "correct horse" not in hashed
    assert verify_password(hashed, "correct horse") and not verify_password(hashed, "correct horsE")
    assert not verify_password(None, "correct horse") and not verify_password("not-a-hash", "x")


def test_first_start_admin_from_env_then_random(tmp_path: Path, monkeypatch, caplog) -> None:
    monkeypatch.setenv("PAINWATCH_ADMIN_PASSWORD", "from-the-environment")
    store = Store.open(f"sqlite:///{tmp_path / 'env.db'}")
    users = UserDirectory(store)
    assert users.ensure_admin(tmp_path / "env-data") is None  # no file: the password came from the environment
    creds = users.credentials("admin")
    assert creds is not None and creds.user.role == Role.ADMIN
    assert not creds.user.must_change_password  # a deployment's chosen password is kept
    assert verify_password(creds.password_hash, "from-the-environment")
    assert users.ensure_admin(tmp_path / "env-data") is None and len(users.list()) == 1  # second start: no change
    assert not (tmp_path / "env-data").exists()
    store.close()

    monkeypatch.delenv("PAINWATCH_ADMIN_PASSWORD")
    store = Store.open(f"sqlite:///{tmp_path / 'random.db'}")
    users = UserDirectory(store)
    with caplog.at_level(logging.INFO):
        written = users.ensure_admin(tmp_path / "data")
    assert written == tmp_path / "data" / "initial-admin-password"
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert [p.name for p in written.parent.iterdir()] == [written.name]  # no temporary file left behind
    password = written.read_text().splitlines()[0]
    assert len(password) >= 16
    creds = users.credentials("admin")
    assert creds is not None and verify_password(creds.password_hash, password)
    assert creds.user.must_change_password  # the first login must set a new one
    assert password not in caplog.text and str(written) in caplog.text
    assert [(a.who, a.action, a.details["password"]) for a in store.audit_entries()] == [
        ("system", "user.create", "random")
    ]
    assert users.ensure_admin(tmp_path / "data") is None  # an admin exists: nothing new
    assert written.read_text().splitlines()[0] == password
    store.close()


def test_private_file_is_written_0600_atomically_even_under_a_permissive_umask(tmp_path: Path) -> None:
    target = tmp_path / "secret"
    target.write_text("old")
    target.chmod(0o644)
    previous = os.umask(0)
    try:
        write_private_file(target, "new secret\n")
    finally:
        os.umask(previous)
    assert target.read_text() == "new secret\n" and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret"]


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
        [*PAINWATCH, "serve", "--config", str(config)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "server" in result.stderr and "refusing to serve on non-loopback address '0.0.0.0'" in result.stderr
    assert "server.tls_certfile" in result.stderr and "behind_tls_proxy" in result.stderr


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost signed by its own key (made here: nothing is downloaded)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "painwatch test")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


async def first_summary(url: str, context: ssl.SSLContext, headers: dict[str, str]) -> dict:
    async with websockets.connect(url, ssl=context, additional_headers=headers) as ws:
        return json.loads(await asyncio.wait_for(ws.recv(), 30))


async def close_reason(url: str, context: ssl.SSLContext, headers: dict[str, str]) -> tuple[int, str]:
    async with websockets.connect(url, ssl=context, additional_headers=headers) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 30)
    received = closed.value.rcvd
    assert received is not None
    return received.code, received.reason


@pytest.mark.timeout(240)
def test_first_start_over_tls_password_file_change_required_hsts_secure_cookie_and_wss(
    model_dir: Path, tmp_path: Path, port: int, serve
) -> None:
    """A real `painwatch serve` with its own TLS certificate and no PAINWATCH_ADMIN_PASSWORD: the generated password
    is in a 0600 file (never on the console); its first login must change it; HTTPS answers carry HSTS and a Secure
    cookie; a WSS client then gets the bed summary."""
    cert, key = self_signed_certificate(tmp_path)
    video = write_demo_video(tmp_path / "face.mp4", seconds=2.0, fps=5.0, face_until_s=2.0)
    data = tmp_path / "data"
    config = tmp_path / "c.yaml"
    config.write_text(
        f"beds: [{{id: b1, scale: DAN, analysis_rate_hz: 1, source: {{type: video, path: '{video}'}}}}]\n"
        f"model: {{path: '{model_dir}', providers: [CPUExecutionProvider]}}\n"
        f"server: {{port: {port}, tls_certfile: '{cert}', tls_keyfile: '{key}'}}\ndata_dir: '{data}'\n"
    )
    context = ssl.create_default_context(cafile=str(cert))
    served = serve(config, port, None, tls=context)
    assert served.base.startswith("https://")

    password_file = data / "initial-admin-password"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    password = password_file.read_text().splitlines()[0]
    console = served.output()
    assert password not in console, "the generated password must never reach the console (journald, docker logs)"
    assert str(password_file) in console and "https://127.0.0.1" in console

    with httpx.Client(base_url=served.base, verify=context) as client:
        login = client.post("/api/auth/login", json={"username": "admin", "password": password})
        assert login.status_code == 200, login.text
        body = login.json()
        assert body["user"]["must_change_password"] is True
        assert login.headers["strict-transport-security"].startswith("max-age=")
        cookie = login.headers["set-cookie"]
        assert "; Secure" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
        bearer = {"Authorization": f"Bearer {body['token']}"}

        # until the password is changed, nothing but /me, /password and logout answers (and no stream opens)
        for method, path in [("GET", "/api/beds"), ("GET", "/api/alerts"), ("POST", "/api/beds/b1/resume"),
                             ("GET", "/api/users"), ("GET", "/docs"), ("GET", "/openapi.json")]:  # fmt: skip
            refused = client.request(method, path, headers=bearer)
            assert refused.status_code == 403 and "change your password first" in refused.text, (method, path)
        me = client.get("/api/auth/me", headers=bearer)
        assert me.status_code == 200 and me.json()["must_change_password"] is True
        assert me.headers["strict-transport-security"].startswith("max-age=")
        wss = f"wss://127.0.0.1:{port}/ws/beds"
        assert asyncio.run(close_reason(wss, context, bearer)) == (1008, "change your password first")

        new_password = "my-own-Admin-password-1"
        too_short = {"current_password": password, "new_password": "short"}
        assert client.post("/api/auth/password", json=too_short, headers=bearer).status_code == 422
        wrong = {"current_password": "not-it-at-all", "new_password": new_password}
        assert client.post("/api/auth/password", json=wrong, headers=bearer).status_code == 400
        change = {"current_password": password, "new_password": new_password}
        changed = client.post("/api/auth/password", json=change, headers=bearer)
        assert changed.status_code == 200, changed.text
        assert changed.json()["must_change_password"] is False
        assert not password_file.exists()  # the password in it opens nothing now
        removed = client.get("/api/audit", params={"action": "auth.initial_password_file_removed"}, headers=bearer)
        assert [(e["who"], e["details"]["path"]) for e in removed.json()] == [("admin", str(password_file))]

        assert client.get("/api/beds", headers=bearer).status_code == 200  # the same session goes on
        old = client.post("/api/auth/login", json={"username": "admin", "password": password})
        assert old.status_code == 401
        again = client.post("/api/auth/login", json={"username": "admin", "password": new_password})
        assert again.status_code == 200 and again.json()["user"]["must_change_password"] is False

    summary = asyncio.run(first_summary(wss, context, bearer))
    assert summary["type"] == "summary" and [b["bed_id"] for b in summary["beds"]] == ["b1"]
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):  # it is really TLS: untrusted here
        httpx.get(f"{served.base}/healthz", verify=ssl.create_default_context())
