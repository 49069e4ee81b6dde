"""Running the real pipeline runner in a subprocess, the way `make pipeline` does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from scripts.pipeline.params import PROJECT_ROOT
from service.model.store import load_model_version


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


class Trained:
    """A finished, successful pipeline run: its process, run folder and exported version."""

    def __init__(self, done: subprocess.CompletedProcess, run_dir: Path):
        assert done.returncode == 0, f"pipeline failed:\n{done.stdout}\n{done.stderr}"
        self.done = done
        self.run_dir = run_dir
        self.tag = printed_tag(done)
        self.version = load_model_version(self.tag)

    def holdout(self) -> pd.DataFrame:
        """Return the run's held-out rows, target included, text columns as text."""
        text = [f.name for f in self.version.schema.features if f.kind == "categorical"]
        return pd.read_csv(self.run_dir / "holdout.csv", dtype=dict.fromkeys(text, "str"))


def json_records(frame: pd.DataFrame) -> list[dict]:
    """Return rows as JSON records, gaps as null."""
    return [
        {key: (None if pd.isna(value) else value) for key, value in row.items()}
        for row in frame.to_dict("records")
    ]
