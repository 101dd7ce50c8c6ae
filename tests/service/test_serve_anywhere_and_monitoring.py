"""A real `painwatch serve`, started with no config from a folder that is not the checkout, becomes ready; and the
monitoring files (docs/deploy/prometheus/) name only metrics that its /metrics really exposes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from service.pipeline.messages import BedState
from tests.support.browser import chromium, require_browser
from tests.support.cli import start_serve
from tests.support.network import free_port, wait_until_answering

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "docs" / "deploy"
RULES = DEPLOY / "prometheus" / "painwatch-alerts.yml"
DASHBOARD = DEPLOY / "prometheus" / "painwatch-grafana-dashboard.json"
TOKEN = "test-metrics-token-0123456789"
ADMIN_PASSWORD = "anywhere-admin-pw-1"


@dataclass
class Running:
    base: str
    cwd: Path
    data: Path
    log: Path


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """`painwatch serve` with no --config, from an empty temporary folder; port and data folder from the env."""
    cwd = tmp_path_factory.mktemp("anywhere")
    data = cwd / "state"
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PAINWATCH_SERVER__PORT": str(port), "PAINWATCH_DATA_DIR": "state",
           "PAINWATCH_AUTH__METRICS_TOKEN": TOKEN, "PAINWATCH_ADMIN_PASSWORD": ADMIN_PASSWORD}  # fmt: skip
    for name in ("PAINWATCH_MODELS_ROOT", "PAINWATCH_MODEL__PATH", "PAINWATCH_MODEL__ROOT", "PAINWATCH_STORE__URL"):
        env.pop(name, None)
    log = cwd / "service.log"
    process = start_serve([], log, env, cwd=cwd)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{base}/readyz", process, 150, log.read_text)
        # analysed frames, so the per-bed metrics have samples
        deadline = time.monotonic() + 60
        while "painwatch_frames_analysed_total{" not in metrics_text(base):
            assert time.monotonic() < deadline, "no frame analysed"
            time.sleep(0.5)
        yield Running(base, cwd, data, log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def metrics_text(base: str) -> str:
    response = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert response.status_code == 200, response.text
    return response.text


def test_serve_without_config_from_another_folder_becomes_ready(running: Running) -> None:
    ready = httpx.get(f"{running.base}/readyz", timeout=5)
    assert ready.status_code == 200 and ready.json() == {"ready": True}  # anonymous: the status only
    output = running.log.read_text()
    assert "model demo-synthetic/1" in output, output
    assert (running.data / "demo" / "synthetic-demo.mp4").is_file()  # the data folder came from the environment
    assert (running.data / "painwatch.db").is_file()
    assert not (running.cwd / "exported_models").exists()


def exposed_names(text: str) -> set[str]:
    """Sample names in the exposition, plus those each declared family implies (a labelled counter that has not
    counted yet shows only its HELP and TYPE lines, named with `_total`)."""
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"),
                "gauge": ("",), "summary": ("_sum", "_count", "")}  # fmt: skip
    for family, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE):
        names |= {family, *(family.removesuffix("_total") + suffix for suffix in suffixes.get(kind, ("",)))}
    return names


def referenced(expression: str) -> set[str]:
    return set(re.findall(r"\bpainwatch_[a-z0-9_]+", expression))


def rule_expressions() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    targets = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    variables = [v["query"]["query"] for v in dashboard["templating"]["list"]]
    return targets + variables


def test_monitoring_files_name_only_real_metrics(running: Running) -> None:
    exposed = exposed_names(metrics_text(running.base))
    for source, expressions in (("alert rules", rule_expressions()), ("dashboard", dashboard_expressions())):
        names = set().union(*(referenced(e) for e in expressions))
        assert names, source
        missing = sorted(n for n in names if n not in exposed)
        assert not missing, f"{source} name metrics the service does not expose: {missing}"
    # every metric family of the service is on the dashboard
    declared = re.findall(r"^# TYPE (painwatch_\S+) ", metrics_text(running.base), re.MULTILINE)
    families = {f for f in declared if not f.endswith("_created")}  # creation times: not worth a panel
    on_dashboard = " ".join(dashboard_expressions())
    assert not sorted(f for f in families if f not in on_dashboard)


def test_label_values_in_rules_exist() -> None:
    text = " ".join(rule_expressions() + dashboard_expressions())
    states = {BedState(value) for value in re.findall(r'state="([a-z_]+)"', text)}
    assert states >= {BedState.NO_SIGNAL, BedState.STALE}
    outcomes = set(re.findall(r'outcome="([a-z_]+)"', text))
    assert outcomes <= {"written", "shed", "retried", "dead_lettered", "ok", "refused"}
    assert {"shed", "dead_lettered", "retried"} <= outcomes


def test_systemd_unit_and_environment_example() -> None:
    unit = (DEPLOY / "painwatch.service").read_text()
    for line in ("ProtectSystem=strict", "ReadWritePaths=/var/lib/painwatch", "User=painwatch", "Restart=on-failure",
                 "StateDirectoryMode=0700"):  # fmt: skip
        assert re.search(rf"^{re.escape(line)}$", unit, re.MULTILINE), line
    assert "/readyz" in unit and "painwatch serve --config" in unit
    env = (DEPLOY / "painwatch.env.example").read_text()
    settings_names = {m for m in re.findall(r"^#? ?(PAINWATCH_[A-Z_]+)=", env, re.MULTILINE)}
    assert {"PAINWATCH_STORE__URL", "PAINWATCH_AUTH__METRICS_TOKEN", "PAINWATCH_DATA_DIR"} <= settings_names


def admin_headers(base: str) -> dict[str, str]:
    response = httpx.post(f"{base}/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}, timeout=30)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def test_model_report_has_typed_human_fields(running: Running) -> None:
    report = httpx.get(f"{running.base}/api/model", headers=admin_headers(running.base), timeout=10).json()
    for kept in ("path", "providers", "loaded_at", "warmup_ms", "sha256", "card"):
        assert kept in report
    assert report["name"] == "demo-synthetic" and report["demo"] is True
    assert report["providers"] == ["CPUExecutionProvider"] == report["requested_providers"]
    card = report["card"]
    texts = [w["text"] for w in report["warnings"]]
    assert "DEMO model" in texts[0]  # the most serious first
    if card["warnings"]:  # the card's own come last
        assert texts[-len(card["warnings"]) :] == card["warnings"]
    if card["quantization"]:  # fp16 or INT8 deviations are named
        assert any(t.startswith(("fp16 weights", "INT8 model", "INT8 blocks 1-4", "quantized model")) for t in texts)
    metrics = {m["name"]: m for m in report["cv_metrics"]}
    assert set(metrics) == set(card["cv_metrics"]) and "accuracy" in metrics
    assert metrics["accuracy"] == {"name": "accuracy", **card["cv_metrics"]["accuracy"]}
    assert [d["name"] for d in report["datasets"]] == [d["name"] for d in card["datasets"]]
    assert (
        report["datasets"][0]["synthetic"] is True
        and report["datasets"][0]["infants"] == card["datasets"][0]["infants"]
    )


def test_model_page_in_a_browser(running: Running, tmp_path: Path) -> None:
    require_browser()
    from playwright.sync_api import expect

    report = httpx.get(f"{running.base}/api/model", headers=admin_headers(running.base), timeout=10).json()
    balance = ", ".join(f"{k} {v}" for k, v in report["datasets"][0]["class_balance"].items())
    with chromium(tmp_path / "chromium-profile") as context:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{running.base}/#/model")
        page.fill("#login-username", "admin")
        page.fill("#login-password", ADMIN_PASSWORD)
        page.click("#login-submit")
        page.goto(f"{running.base}/#/model")
        warnings = page.locator(".model-warnings li")
        expect(warnings.first).to_contain_text("DEMO model", timeout=30_000)
        expect(page.locator("ul.providers li")).to_have_text(["CPU"])
        expect(page.locator("table.metrics tbody tr")).to_have_count(len(report["cv_metrics"]))
        expect(page.locator("table.metrics")).to_contain_text("Accuracy")
        expect(page.locator("table.datasets")).to_contain_text(balance)
        text = page.locator("main, body").first.inner_text()
        assert re.search(r"Warm-up\s+\d+ ms", text), text
        assert "[object" not in text and "null" not in text and '"providers"' not in text
        # warnings come before the runtime facts
        assert text.index("Warnings") < text.index("Runs on") < text.index("Cross-validation")
        assert errors == []
