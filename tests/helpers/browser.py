"""Debian's Chromium driven by Playwright, the way a person's browser sees the gateway's pages.

Playwright's own browser download is not reachable from our machines, so it drives the
system's `/usr/bin/chromium` (`scripts/ensure-chromium` installs it). A missing browser is a
failure, never a skip: the pages would go untested without anyone noticing.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, async_playwright

CHROMIUM = Path(os.environ.get("SIGNALWAY_CHROMIUM_BIN", "/usr/bin/chromium"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"width": 375, "height": 812}


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    if not await asyncio.to_thread(CHROMIUM.exists):
        raise RuntimeError(f"{CHROMIUM} not found: the browser tests need Debian's chromium "
                           "(run `bash scripts/ensure-chromium`, or `apt-get install -y chromium` as root)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()
