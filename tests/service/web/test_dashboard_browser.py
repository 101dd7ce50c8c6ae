"""The dashboard in headless Chromium (Debian's `chromium` driven by Playwright; `make browser` installs both).

A real `painwatch serve` process (synthetic astronaut video, a deliberately low pain threshold, like
test_alerts_end_to_end.py) is opened in the browser: log in (when access control is enabled), the demo bed
updates live, the DEMO banner shows, an alert opens and is acknowledged with a verdict and a note (a POST that needs
the session's X-CSRF-Token), and the acknowledged list holds it; /docs (Swagger UI from the service) renders; a nurse
whose password was handed out must set her own in the change-password form first. All of it under the service's
Content-Security-Policy: any violation the browser reports fails the test. With PAINWATCH_UPDATE_SCREENSHOT=1 it
also refreshes docs/dashboard.png (the bed grid) for the README; otherwise tests never write into the repository.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import shutil
import time
from pathlib import Path

import httpx
import pytest

from service.demo_video import write_demo_video
from tests.support.browser import chromium, require_browser

logger = logging.getLogger(__name__)

pytestmark = pytest.mark.timeout(180)

REPO = Path(__file__).resolve().parents[3]
README_SCREENSHOT = REPO / "docs" / "dashboard.png"
ADMIN_USER = "admin"
ADMIN_PASSWORD = "browser-test-Admin-pw-1"

with contextlib.suppress(ImportError):  # without `make browser` the tests skip first (fail under CI=true)
    from playwright.sync_api import Page, expect


@pytest.fixture
def browser_available() -> None:
    """Skip without chromium or playwright (a failure under CI=true: `make browser` must have installed both)."""
    require_browser()


@pytest.fixture
def service_url(browser_available: None, model_dir: Path, tmp_path: Path, port: int, serve) -> str:
    """The service (started only once the browser is known to be there)."""
    video = write_demo_video(tmp_path / "face.mp4", seconds=4.0, fps=10.0, face_until_s=4.0)
    config = tmp_path / "c.yaml"
    config.write_text(
        "beds: [{id: b1, label: 'Bed 1', scale: DAN, analysis_rate_hz: 5, "
        f"source: {{type: video, path: '{video}'}}}}]\n"
        f"model: {{path: '{model_dir}', providers: [CPUExecutionProvider]}}\n"
        "aggregation: {window_s: 2, pain_threshold: 0.000001, min_face_share: 0.2}\n"  # every face frame is pain
        "alerts: {open_after_s: 1, close_after_s: 600, high_after_s: 600}\n"
        f"server: {{port: {port}}}\ndata_dir: '{tmp_path / 'data'}'\n"
    )
    base: str = serve(config, port, ADMIN_PASSWORD).base
    return base


def log_in_if_needed(page: Page, base: str) -> bool:
    """True when the service has access control (then the login page is used); 404 = not enabled in this build."""
    if httpx.get(f"{base}/api/auth/me").status_code == 404:
        return False
    expect(page.locator("#login-username")).to_be_visible(timeout=15_000)
    page.fill("#login-username", ADMIN_USER)
    page.fill("#login-password", ADMIN_PASSWORD)
    page.click("#login-submit")
    return True


COLLECT_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => window.__cspViolations.push(
  `${e.violatedDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile || location.href}:${e.lineNumber})`));
"""


def watch_csp(page: Page, console_violations: list[str]) -> None:
    """Collect what the browser reports against the Content-Security-Policy (events and console errors)."""
    page.on(
        "console",
        lambda message: (
            console_violations.append(message.text)
            if "Content Security Policy" in message.text or "Refused to" in message.text
            else None
        ),
    )


def csp_violations(page: Page, console_violations: list[str]) -> list[str]:
    return [*page.evaluate("window.__cspViolations || []"), *console_violations]


def test_dashboard_live_bed_demo_banner_and_acknowledge(service_url: str, tmp_path: Path) -> None:
    started = time.monotonic()
    console_violations: list[str] = []
    with chromium(tmp_path / "chromium-profile") as context:
        context.add_init_script(COLLECT_CSP_VIOLATIONS)
        page = context.new_page()
        watch_csp(page, console_violations)
        page.goto(f"{service_url}/")
        authenticated = log_in_if_needed(page, service_url)

        card = page.locator(".bed-card[data-bed=b1]")
        expect(card).to_be_visible(timeout=30_000)
        expect(page.locator("#demo-banner")).to_have_text("DEMO - not for clinical use", timeout=15_000)
        expect(page.locator("#conn")).to_have_text("LIVE")
        has_update = "() => document.querySelector('.bed-card[data-bed=b1]')?.dataset.updated"
        page.wait_for_function(has_update, timeout=30_000)
        first = card.get_attribute("data-updated")
        page.wait_for_function(
            "(first) => document.querySelector('.bed-card[data-bed=b1]').dataset.updated !== first",
            arg=first, timeout=15_000,
        )  # fmt: skip

        # the episode opens from the real pipeline (low thresholds) and shows on the card
        expect(card.locator(".alert-badge.prio-medium")).to_be_visible(timeout=60_000)
        expect(card.locator(".state-badge")).to_have_text("OK", timeout=15_000)
        page.wait_for_timeout(4000)  # a little sparkline
        page.screenshot(path=str(tmp_path / "grid.png"))
        assert (tmp_path / "grid.png").stat().st_size > 10_000
        if os.environ.get("PAINWATCH_UPDATE_SCREENSHOT") == "1":
            shutil.copyfile(tmp_path / "grid.png", README_SCREENSHOT)

        # bed detail: the per-frame stream's sequence advances
        card.click()
        frame = page.locator("[data-role=frame][data-sequence]")
        expect(frame).to_be_visible(timeout=30_000)
        seq = frame.get_attribute("data-sequence")
        page.wait_for_function(
            "(s) => document.querySelector('[data-role=frame]').dataset.sequence !== s", arg=seq, timeout=15_000
        )
        # The Grad-CAM overlay (2 Hz) stays up between the scored frames (5 Hz) that carry none instead of
        # flickering, and goes at once on a frame without a face (the detector misses a few of this video's).
        overlay = page.locator("img.gradcam")
        expect(overlay).to_be_visible(timeout=15_000)
        seen: list[tuple[str, bool]] = []
        for _ in range(20):
            seq = frame.get_attribute("data-sequence")
            page.wait_for_function(
                "(s) => document.querySelector('[data-role=frame]').dataset.sequence !== s", arg=seq, timeout=15_000
            )
            seen.append((frame.text_content() or "", overlay.is_visible()))
        pairs = itertools.pairwise(seen)
        held = [(text, shown) for (_, before), (text, shown) in pairs if before and " - OK," in text]
        assert len(held) >= 5, seen
        assert all(shown for _, shown in held), [text for text, shown in held if not shown]
        assert not any(shown for text, shown in seen if " - OK," not in text), seen

        # acknowledge the open alert with a verdict and a note
        page.goto(f"{service_url}/#/alerts?status=open")
        row = page.locator("#alert-table tr[data-status=open]").first
        expect(row).to_be_visible(timeout=15_000)
        alert_id = row.get_attribute("data-alert")
        row.get_by_role("link", name="Review").click()
        # the episode's review snapshot (written at its first peak): crop, Grad-CAM, trace; never a raw JSON dump
        expect(page.locator(".snapshot")).to_be_visible(timeout=15_000)
        expect(page.locator(".snapshot img")).to_have_count(2)
        expect(page.locator(".snapshot-trace pre")).to_have_count(0)
        page.check("input[name=verdict][value=not_pain]")
        page.fill("#ack-note", "synthetic video (browser test)")
        page.click("#ack-submit")
        expect(page.locator(".acked-info")).to_contain_text("Not pain", timeout=15_000)

        page.select_option("#f-status", "acknowledged")
        acked = page.locator(f"#alert-table tr[data-alert='{alert_id}'][data-status=acknowledged]")
        expect(acked).to_be_visible(timeout=15_000)
        expect(acked.locator(".verdict")).to_contain_text("Not pain: synthetic video (browser test)")
        expect(acked.locator(".verdict")).to_contain_text(f"by {ADMIN_USER}" if authenticated else "by ")

        shot = tmp_path / "acknowledged.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 0
        assert csp_violations(page, console_violations) == []

        if authenticated:
            check_docs_and_password_change(context, page, service_url, console_violations)
    logger.info("browser test took %.1f s", time.monotonic() - started)


def check_docs_and_password_change(context, page: Page, base: str, console_violations: list[str]) -> None:
    """/docs renders Swagger UI from the service's own files; a handed-out password leads to the change form, and
    once changed the dashboard works. No CSP violation on the way."""
    docs = context.new_page()
    watch_csp(docs, console_violations)
    docs.goto(f"{base}/docs")
    expect(docs.locator(".swagger-ui .info .title")).to_contain_text("painwatch", timeout=30_000)
    expect(docs.locator(".opblock-tag-section").first).to_be_visible(timeout=15_000)
    assert csp_violations(docs, console_violations) == []
    docs.close()

    admin_token = httpx.post(
        f"{base}/api/auth/login", json={"username": ADMIN_USER, "password": ADMIN_PASSWORD}
    ).json()["token"]
    nurse = {"name": "nurse-new", "role": "nurse", "password": "handed-out-pw-1", "must_change_password": True}
    created = httpx.post(f"{base}/api/users", json=nurse, headers={"Authorization": f"Bearer {admin_token}"})
    assert created.status_code == 201, created.text

    page.click("#logout")  # a POST with the session's CSRF token
    expect(page.locator("#login-username")).to_be_visible(timeout=15_000)
    page.fill("#login-username", "nurse-new")
    page.fill("#login-password", "handed-out-pw-1")
    page.click("#login-submit")
    expect(page.locator("#password-change")).to_be_visible(timeout=15_000)
    expect(page.locator("#nav")).to_be_hidden()
    page.fill("#pw-current", "handed-out-pw-1")
    page.fill("#pw-new", "nurse-own-pw-2")
    page.fill("#pw-repeat", "nurse-own-pw-2")
    page.click("#pw-submit")
    expect(page.locator("#who-name")).to_have_text("nurse-new (nurse)", timeout=15_000)
    expect(page.locator("#conn")).to_have_text("LIVE", timeout=30_000)
    page.goto(f"{base}/#/beds")
    expect(page.locator(".bed-card[data-bed=b1]")).to_be_visible(timeout=30_000)
    login = httpx.post(f"{base}/api/auth/login", json={"username": "nurse-new", "password": "nurse-own-pw-2"})
    assert login.status_code == 200 and login.json()["user"]["must_change_password"] is False
    assert csp_violations(page, console_violations) == []

    # the policy is enforced and the watch above sees violations: an injected inline script is blocked and reported
    inject = (
        "() => { const s = document.createElement('script'); s.textContent = 'window.__ran = 1';"
        " document.body.append(s); }"
    )
    page.evaluate(inject)
    page.wait_for_function("() => window.__cspViolations.length > 0", timeout=5_000)
    assert page.evaluate("window.__ran") is None
    assert any("script-src" in v for v in csp_violations(page, console_violations))
