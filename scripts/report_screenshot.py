#!/usr/bin/env python3
"""Screenshot an HTML report in headless Chromium, to look at it without a desktop.

    python scripts/report_screenshot.py state/report.html /tmp/report-screenshot.png

Uses Debian's ``chromium`` (``apt-get install chromium``; another binary with
``--chromium PATH`` or the CHROMIUM environment variable), a throw-away profile, and
no network: the report is a single self-contained file. Prints the PNG's path.
Not part of the test suite.
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


def find_chromium(explicit: str | None) -> str:
    for name in (explicit, os.environ.get("CHROMIUM"), *CANDIDATES):
        if name and (found := shutil.which(name)):
            return found
    sys.exit("report_screenshot: no Chromium found (apt-get install chromium, or --chromium PATH)")


def screenshot(report: Path, out: Path, chromium: str, width: int, height: int,
               dark: bool = False, timeout: float = 120) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="report-screenshot-") as profile:
        command = [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}",
            f"--window-size={width},{height}", f"--screenshot={out}",
        ]
        if dark:
            command.append("--force-dark-mode")
        command.append(report.resolve().as_uri())
        process = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if process.returncode != 0 or not out.is_file():
        sys.exit(f"report_screenshot: chromium failed (exit {process.returncode}):\n"
                 f"{process.stderr[-2000:]}")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", type=Path, help="the HTML report")
    parser.add_argument("out", type=Path, help="the PNG to write")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=2200)
    parser.add_argument("--dark", action="store_true", help="prefer the dark colour scheme")
    parser.add_argument("--chromium", metavar="PATH", help="the browser binary")
    args = parser.parse_args(argv)
    if not args.report.is_file():
        sys.exit(f"report_screenshot: no report at {args.report}")
    png = screenshot(args.report, args.out, find_chromium(args.chromium), args.width,
                     args.height, dark=args.dark)
    print(png.resolve())


if __name__ == "__main__":
    main()
