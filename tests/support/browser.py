"""The one way tests drive a real browser: Debian's chromium (`make browser`) through the Python playwright package,
which never downloads a browser here. Without either, a test skips with the reason; under CI=true it fails."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from tests.support.ci import require_or_skip

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def require_browser() -> None:
    """Skip (fail under CI=true) unless chromium and playwright are both installed."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        require_or_skip("needs the Python playwright package and Debian's chromium at /usr/bin/chromium (make browser)")
    if not CHROMIUM.is_file():
        require_or_skip("needs Debian's chromium at /usr/bin/chromium and the Python playwright package (make browser)")


@contextmanager
def chromium(profile: Path, width: int = 1600, height: int = 900) -> Iterator[BrowserContext]:
    """A headless chromium with its own profile folder, closed on exit."""
    from playwright.sync_api import sync_playwright

    require_browser()
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": width, "height": height},
        )  # fmt: skip
        try:
            yield context
        finally:
            context.close()
