"""What every browser test shares: Debian's chromium and its flags (never a downloaded browser), the axe-core
rule set (WCAG 2.1 A/AA), and a poll that works under the pages' Content-Security-Policy."""

from __future__ import annotations

import time
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]  # fmt: skip
WCAG_21_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
              "resultTypes": ["violations"]}  # fmt: skip


def wait_until(page: Any, expression: str, seconds: float = 5.0) -> None:
    """Poll `expression` in the page until it is true. Playwright's wait_for_function evaluates its predicate with
    eval inside the page, which the pages' Content-Security-Policy (script-src 'self') refuses."""
    deadline = time.monotonic() + seconds
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        time.sleep(0.05)
