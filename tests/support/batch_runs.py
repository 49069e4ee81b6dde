"""Running the batch command as a user does: a process of its own, its output captured."""

from __future__ import annotations

import os
import subprocess
import sys

from scripts.pipeline.params import PROJECT_ROOT


def run_batch(
    *args: str, env: dict | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """Run `python -m scripts.batch ARGS` from the project root, `env` added to ours."""
    return subprocess.run(
        [sys.executable, "-m", "scripts.batch", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
