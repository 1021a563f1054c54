"""Render an ``hpo report`` HTML page (or a page served on this machine, e.g. ``hpo dashboard``'s) to a PNG
with headless Chromium, to look at it as a person would.

    python scripts/screenshot_report.py <sweep dir>/report/report.html [--out shot.png] [--width 1400] [--height 9000]
    python scripts/screenshot_report.py http://127.0.0.1:8080/dashboard --wait-ms 8000 --out dashboard.png

Chromium is found as ``chromium``, ``chromium-browser``, ``google-chrome`` or ``$CHROMIUM``
(Debian: ``apt-get install chromium``). The page is rendered from ``file://`` with networking
off, so the screenshot also proves the report needs nothing from outside the file.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """The Chromium (or Chrome) executable, or None when none is installed."""
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return shutil.which(explicit) or (explicit if Path(explicit).is_file() else None)
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


def screenshot(html: str | Path, png: str | Path, width: int = 1400, height: int = 9000, timeout: float = 120,
               wait_ms: int | None = None) -> Path:
    """Render ``html`` (a file, or an http URL on this machine) in headless Chromium and write a ``width`` x
    ``height`` PNG of the top of the page; ``wait_ms`` of virtual time first lets a script-drawn page
    (the dashboard fetches its study, then draws) finish.

    Raises:
        FileNotFoundError: no Chromium installed.
        RuntimeError: Chromium ran but wrote no screenshot.
    """
    browser = find_chromium()
    if browser is None:
        raise FileNotFoundError(f"no Chromium found (tried {', '.join(CANDIDATES)} and $CHROMIUM)")
    png = Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    served = str(html).startswith(("http://", "https://"))
    with tempfile.TemporaryDirectory(prefix="hpo-chromium-") as profile:
        args = [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
            # networking off (a dead proxy); a served page may reach this machine only
            "--disable-dev-shm-usage", "--proxy-server=127.0.0.1:9",
            "--proxy-bypass-list=" + ("127.0.0.1;localhost" if served else "<-loopback>"),
            f"--user-data-dir={profile}", f"--window-size={width},{height}", f"--screenshot={png}",
            *([f"--virtual-time-budget={wait_ms}"] if wait_ms else []),
            str(html) if served else Path(html).resolve().as_uri(),
        ]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if not png.is_file():
        raise RuntimeError(f"Chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return png


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Screenshot an hpo report with headless Chromium.")
    parser.add_argument("html", help="an HTML file, or an http:// URL served on this machine")
    parser.add_argument("--out", type=Path, default=None, help="default: <html>.png beside the page (needed for a URL)")
    parser.add_argument("--wait-ms", type=int, default=None, help="virtual time for a script-drawn page to finish")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=9000)
    ns = parser.parse_args(argv)
    print(screenshot(ns.html, ns.out or Path(ns.html).with_suffix(".png"), ns.width, ns.height, wait_ms=ns.wait_ms))
    return 0


if __name__ == "__main__":
    sys.exit(main())
