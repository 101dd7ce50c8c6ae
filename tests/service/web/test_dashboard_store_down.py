"""The dashboard while the database is down (headless Chromium, as in test_dashboard_browser.py).

A real `painwatch serve` process stores in a throwaway PostgreSQL. A nurse logs in in the browser and opens the pain
episode that the real pipeline raises; PostgreSQL is stopped (`pg_ctl -m immediate`, like a crash): the "Store
unavailable" banner appears; the nurse acknowledges with a verdict and a note, the service answers 503 and the
dashboard shows the acknowledgement as not saved yet, also after a reload. PostgreSQL is started again: the
dashboard's own retry saves it (nobody clicks again), which the REST API confirms (by that nurse, with that verdict
and note, once), and the banner is gone.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.demo_video import write_demo_video
from tests.support.browser import chromium, require_browser
from tests.support.postgres import ThrowawayPostgres

pytestmark = pytest.mark.timeout(300)


ADMIN_PASSWORD = "store-down-Admin-pw-1"
NURSE = {"name": "nurse-a", "role": "nurse", "password": "nurse-a-password"}
NOTE = "grimace and cry (store-down browser test)"

with contextlib.suppress(ImportError):  # without `make browser` the tests skip first (fail under CI=true)
    from playwright.sync_api import expect


@pytest.fixture
def served(model_dir: Path, tmp_path: Path, port: int, serve, postgres_server: ThrowawayPostgres) -> Any:
    """The `painwatch serve` process (tests/service/conftest.py) on PostgreSQL, with a nurse account; started only
    once the browser is known to be there."""
    require_browser()
    video = write_demo_video(tmp_path / "face.mp4", seconds=4.0, fps=10.0, face_until_s=4.0)
    config = tmp_path / "c.yaml"
    config.write_text(
        "beds: [{id: b1, label: 'Bed 1', scale: DAN, analysis_rate_hz: 4, "
        f"source: {{type: video, path: '{video}'}}}}]\n"
        f"model: {{path: '{model_dir}', providers: [CPUExecutionProvider]}}\n"
        f"store: {{url: '{postgres_server.url}', retry_backoff_max_s: 1}}\n"
        "aggregation: {window_s: 2, pain_threshold: 0.000001, min_face_share: 0.2}\n"  # every face frame is pain
        "alerts: {open_after_s: 1, close_after_s: 600, high_after_s: 600}\n"
        f"server: {{port: {port}}}\ndata_dir: '{tmp_path / 'data'}'\n"
    )
    service = serve(config, port, ADMIN_PASSWORD)
    created = httpx.post(f"{service.base}/api/users", headers=service.login(), json=NURSE)
    assert created.status_code == 201, created.text
    return service


def test_an_ack_made_while_the_store_is_down_is_kept_and_saved_by_the_dashboard_once_it_is_back(
    served: Any, postgres_server: ThrowawayPostgres, tmp_path: Path
) -> None:
    base = served.base
    with chromium(tmp_path / "chromium-profile") as context:
        try:
            page = context.new_page()
            page.goto(f"{base}/#/alerts?status=open")
            expect(page.locator("#login-username")).to_be_visible(timeout=15_000)
            page.fill("#login-username", NURSE["name"])
            page.fill("#login-password", NURSE["password"])
            page.click("#login-submit")
            expect(page.locator("#who-name")).to_have_text("nurse-a (nurse)", timeout=15_000)
            expect(page.locator("#conn")).to_have_text("LIVE", timeout=30_000)

            # the pain episode from the real pipeline shows in the open list (live via /ws/alerts)
            row = page.locator("#alert-table tr[data-status=open]", has_text="Pain episode").first
            expect(row).to_be_visible(timeout=60_000)
            alert_id = row.get_attribute("data-alert")
            row.get_by_role("link", name="Review").click()
            expect(page.locator("#ack-submit")).to_be_visible(timeout=15_000)
            expect(page.locator("#store-banner")).to_be_hidden()

            postgres_server.stop("immediate")
            banner = page.locator("#store-banner")
            expect(banner).to_be_visible(timeout=30_000)
            expect(banner).to_have_attribute("role", "alert")
            expect(banner.locator("strong")).to_have_text("Store unavailable: actions are not being saved")
            expect(banner).to_contain_text("(since ")

            page.check("input[name=verdict][value=pain_confirmed]")
            page.fill("#ack-note", NOTE)
            page.click("#ack-submit")
            kept = page.locator("#ack-pending")
            not_saved = re.compile(r"NOT SAVED YET - will retry \(store unavailable: ")
            expect(kept).to_contain_text(not_saved, timeout=30_000)
            expect(kept).to_contain_text(f'Your acknowledgement: Pain confirmed - "{NOTE}"')
            expect(page.locator("#pending-actions summary")).to_have_text("1 NOT SAVED YET - retrying")
            expect(page.locator(f"#alert-table tr[data-alert='{alert_id}'] [data-pending=pending]")).to_be_visible()
            page.screenshot(path=str(tmp_path / "store-down.png"), full_page=True)
            page.reload()  # the kept action survives a reload (sessionStorage), still not saved
            expect(page.locator("#pending-actions summary")).to_have_text("1 NOT SAVED YET - retrying", timeout=15_000)
            expect(banner).to_be_visible(timeout=15_000)

            postgres_server.start()
            # the dashboard's retry saves it by itself; the review reloads and the banner goes
            expect(page.locator(".acked-info")).to_contain_text("Acknowledged by nurse-a at", timeout=60_000)
            expect(page.locator(".acked-info")).to_contain_text(f'Pain confirmed - "{NOTE}"')
            expect(page.locator(".ack-slot [data-pending=saved]")).to_contain_text("saved at")
            expect(page.locator("#pending-actions summary")).to_have_text("Actions saved")
            expect(banner).to_be_hidden(timeout=30_000)
        finally:
            postgres_server.start()  # the module's server must run again whatever happened (no-op when it does)

    admin = served.login()
    found = httpx.get(f"{base}/api/alerts/{alert_id}", headers=admin, timeout=30).json()
    alert = found["alert"]
    assert alert["status"] == "acknowledged"
    assert (alert["acknowledged_by"], alert["verdict"], alert["note"]) == ("nurse-a", "pain_confirmed", NOTE)
    acks = [e for e in found["events"] if e["type"] == "acknowledged"]
    assert len(acks) == 1 and acks[0]["user"] == "nurse-a" and acks[0]["details"]["note"] == NOTE
