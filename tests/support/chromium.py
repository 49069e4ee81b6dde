"""Rendering a page in headless Chromium (Debian's `chromium`): its console and a screenshot."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

# Chromium prints each console message of the page as `...:CONSOLE:<line>] "<text>", source: <url>`.
CONSOLE = re.compile(r':CONSOLE:\d+\] "(?P<text>.*)", source: (?P<source>\S*)')


@dataclass(frozen=True)
class Rendered:
    console: list[tuple[str, str]]  # (message, source URL)
    screenshot: Path


def chromium() -> str:
    """Return Chromium's path, or skip the test saying how to install it."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("needs Debian's chromium (apt-get install chromium)")
    return found


def render(page: Path, screenshot: Path, width: int = 1280, height: int = 4000) -> Rendered:
    """Return the console messages of `page` loaded in headless Chromium, and its screenshot.

    Every host name resolves to nothing, so the page's remote scripts fail to load as they
    would offline, and nothing leaves the machine.
    """
    done = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--enable-logging=stderr",
            "--v=0",
            f"--window-size={width},{height}",
            f"--screenshot={screenshot}",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert screenshot.is_file(), f"chromium wrote no screenshot:\n{done.stderr[-3000:]}"
    console = [(m["text"], m["source"]) for m in CONSOLE.finditer(done.stderr)]
    return Rendered(console, screenshot)
