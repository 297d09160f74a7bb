"""Take the README screenshot: run `eventguard demo`, log in with chromium, capture the map.

Usage: .venv/bin/python scripts/screenshot_demo.py [OUT.png]
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.async_api import async_playwright

PORT = 8097
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


async def shoot(out: Path) -> None:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
        page = await browser.new_page(viewport={"width": 1400, "height": 950})
        await page.goto(f"http://127.0.0.1:{PORT}/")
        await page.fill("#login-username", "commander")
        await page.fill("#login-password", "commander-demo")
        await page.keyboard.press("Enter")
        await asyncio.sleep(25)  # let arrivals fill the concourses
        await page.screenshot(path=str(out))
        await browser.close()


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/live-map.png")
    demo = subprocess.Popen([sys.executable, "-m", "shell.cli", "demo", "--port", str(PORT),
                             "--duration", "60", "--rate", "6"])
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{PORT}/api/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        asyncio.run(shoot(out))
    finally:
        demo.terminate()
        demo.wait(30)


if __name__ == "__main__":
    main()
