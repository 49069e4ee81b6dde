"""Running the real pipeline runner in a subprocess, the way `make pipeline` does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from scripts.pipeline.params import PROJECT_ROOT


def run_pipeline(*args: str, run_dir: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """Return the finished runner process; BENTOML_HOME is the tests' own store."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.pipeline",
            "--run-dir",
            str(run_dir),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ},
        cwd=PROJECT_ROOT,
    )


def printed_tag(done: subprocess.CompletedProcess) -> str:
    lines = [line for line in done.stdout.splitlines() if line.startswith("model: ")]
    assert lines, f"no model tag printed:\n{done.stdout}\n{done.stderr}"
    return lines[-1].removeprefix("model: ").strip()
