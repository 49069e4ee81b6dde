"""A model's lifecycle run for real: three pipeline runs into one model name, and its make targets."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from support.pipeline_runs import printed_tag, run_pipeline

from scripts.pipeline.params import PROJECT_ROOT

# A name of its own, so versions other tests export (iris) never become its challengers.
NAME = "lifecycle_iris"
# Low enough that a one-tree, one-split forest passes the quality gate and is exported.
LOW_QUALITY_GATE = ("-p", "min_accuracy=0.5", "-p", "min_f1_macro=0.5", "-p", "min_roc_auc=0.5")


@dataclass(frozen=True)
class LifecycleVersions:
    """The tags of the three versions, in the order they were exported, and their run folders."""

    name: str
    first: str  # the default random forest: accuracy 0.9000 on iris' held-out split
    worse: str  # a one-tree forest of depth 1: 0.6667
    better: str  # logistic regression: 0.9333
    run_dirs: dict[str, Path]


def train_versions(root: Path) -> LifecycleVersions:
    """Return the versions after training them one after another into the tests' store."""
    runs = {
        "first": (),
        "worse": (
            "-p",
            "hyperparameters={n_estimators: 1, max_depth: 1}",
            *LOW_QUALITY_GATE,
        ),
        "better": ("-p", "estimator=logistic_regression"),
    }
    tags, run_dirs = {}, {}
    for role, args in runs.items():
        run_dirs[role] = root / role
        done = run_pipeline("-p", f"model_name={NAME}", *args, run_dir=run_dirs[role])
        assert done.returncode == 0, f"{role} run failed:\n{done.stdout}\n{done.stderr}"
        tags[role] = printed_tag(done)
    return LifecycleVersions(NAME, run_dirs=run_dirs, **tags)


def make(target: str, **variables: str) -> subprocess.CompletedProcess:
    """Return `make TARGET NAME=VALUE ...` run to its end in the tests' store."""
    return subprocess.run(
        ["make", "--no-print-directory", target, f"MODEL_NAME={NAME}"]
        + [f"{key}={value}" for key, value in variables.items()],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ},  # BENTOML_HOME is the tests' own store (tests/conftest.py)
        cwd=PROJECT_ROOT,
    )


def lifecycle(*args: str) -> subprocess.CompletedProcess:
    """Return `python -m scripts.lifecycle ARGS` run to its end in the tests' store."""
    return subprocess.run(
        [sys.executable, "-m", "scripts.lifecycle", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},  # BENTOML_HOME is the tests' own store (tests/conftest.py)
        cwd=PROJECT_ROOT,
    )
