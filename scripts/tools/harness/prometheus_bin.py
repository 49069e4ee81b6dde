"""Find Prometheus' own binaries (`prometheus`, `promtool`) for the tests.

Looked for in $PROMETHEUS_BIN (a folder), then on PATH, then in /opt/prometheus/usr/bin, where
.ci/run unpacks Debian's `prometheus` package (`apt-get download` and `dpkg-deb -x`: installing
the package would start a daemon).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

CI_FOLDER = Path("/opt/prometheus/usr/bin")


def find(tool: str) -> Path | None:
    """Return the path of `tool` ("prometheus" or "promtool"), or None if it is nowhere."""
    folders = [os.environ["PROMETHEUS_BIN"]] if os.environ.get("PROMETHEUS_BIN") else []
    for folder in folders:
        candidate = Path(folder) / tool
        if os.access(candidate, os.X_OK):
            return candidate
    on_path = shutil.which(tool)
    if on_path:
        return Path(on_path)
    candidate = CI_FOLDER / tool
    return candidate if os.access(candidate, os.X_OK) else None
