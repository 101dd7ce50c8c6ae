"""The ward view in headless Chromium (as tests/service/web/test_dashboard_browser.py): two real nodes sharing one
PostgreSQL, node A with bed a1 and node B with bed b1. The dashboard of node B lists both beds, each with its node,
live; A's bed opens its detail on B with the live Grad-CAM proxied from A (same browser session, a cookie on B);
no Content-Security-Policy violation on the way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service.web.test_dashboard_browser import COLLECT_CSP_VIOLATIONS, csp_violations, watch_csp
from tests.support.browser import chromium, require_browser
from tests.support.ward import ADMIN_PASSWORD, Ward, start_ward

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def ward(postgres_url: str, model_dir: Path, tmp_path: Path) -> Iterator[Ward]:
    require_browser()  # before the nodes start
    with start_ward(postgres_url, model_dir, tmp_path, {"node-a": ["a1"], "node-b": ["b1"]}) as ward:
        yield ward


def test_the_dashboard_of_node_b_shows_both_nodes_beds_live_and_a1s_gradcam(ward: Ward, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    base = ward.nodes["node-b"].base
    console_violations: list[str] = []
    with chromium(tmp_path / "chromium-profile", 1400, 900) as context:
        context.add_init_script(COLLECT_CSP_VIOLATIONS)
        page = context.new_page()
        watch_csp(page, console_violations)
        page.goto(f"{base}/")
        expect(page.locator("#login-username")).to_be_visible(timeout=15_000)
        page.fill("#login-username", "admin")
        page.fill("#login-password", ADMIN_PASSWORD)
        page.click("#login-submit")

        for bed, node in (("a1", "node-a"), ("b1", "node-b")):
            card = page.locator(f".bed-card[data-bed={bed}]")
            expect(card).to_be_visible(timeout=30_000)
            expect(card.locator("[data-role=node]")).to_have_text(f" @ {node}")
            expect(card.locator(".state-badge")).to_have_text("OK", timeout=30_000)
        remote = page.locator(".bed-card[data-bed=a1]")
        first = remote.get_attribute("data-updated")
        page.wait_for_function(
            "(first) => document.querySelector('.bed-card[data-bed=a1]').dataset.updated !== first",
            arg=first, timeout=15_000,
        )  # fmt: skip
        page.screenshot(path=str(tmp_path / "ward.png"))

        remote.click()  # A's bed, watched through B
        image = page.locator("img.gradcam:not([hidden])")
        expect(image).to_be_visible(timeout=30_000)
        page.wait_for_function("() => document.querySelector('img.gradcam').naturalWidth > 0", timeout=15_000)
        assert csp_violations(page, console_violations) == []
