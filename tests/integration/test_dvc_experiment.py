"""DVC over the pipeline with real parts, in a copy of the project made a git repository of its
own: the data put under DVC, `dvc exp run -S ...` running the papermill pipeline into the
BentoML store, the version's lineage naming the DVC hash of its data, and `python -m
scripts.lifecycle data` bringing those rows back."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.export.data_version import DVC, file_md5
from scripts.pipeline.params import PROJECT_ROOT
from service.model.store import load_model_version

pytestmark = pytest.mark.integration

NAME = "dvc_iris"
GIT = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
}


def _run(project: Path, *command: str, timeout: float = 120) -> subprocess.CompletedProcess:
    done = subprocess.run(
        command, cwd=project, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **GIT},  # BENTOML_HOME is the tests' own store (tests/conftest.py)
    )  # fmt: skip
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """Return a copy of the project's files (as they are in the work tree), committed to a
    git repository of its own, with the environment of the project linked in."""
    copy = tmp_path_factory.mktemp("dvc") / "project"
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=PROJECT_ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = PROJECT_ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    (copy / ".venv").symlink_to(PROJECT_ROOT / ".venv")
    _run(copy, "git", "init", "-q")
    _run(copy, "git", "add", "-A")
    _run(copy, "git", "commit", "-q", "-m", "the project")
    return copy


def test_dvc_exp_run_trains_and_the_lineage_brings_its_data_back(project):
    data = project / "data" / "iris.csv"
    rows = data.read_bytes()
    _run(project, "git", "rm", "-q", "--cached", "data/iris.csv")
    _run(project, DVC, "add", "--quiet", "data/iris.csv")
    _run(project, "git", "add", "data/iris.csv.dvc", "data/.gitignore")
    _run(project, "git", "commit", "-q", "-m", "iris under DVC")

    done = _run(
        project, DVC, "exp", "run", "-S", "estimator=extra_trees", "-S", f"model_name={NAME}",
        timeout=900,
    )  # fmt: skip
    assert "model: " in done.stdout, done.stdout
    version = load_model_version(f"{NAME}:latest")
    assert version.params["estimator"] == "extra_trees"
    assert (project / "reports" / "dvc" / "run" / "index.html").is_file()
    lineage = version.lineage
    assert lineage["data_path"] == "data/iris.csv"
    assert lineage["data_version"] == {
        "tracked": True,
        "md5": file_md5(data),
        "size": len(rows),
        "dvc_file": "data/iris.csv.dvc",
    }
    shown = _run(project, DVC, "exp", "show", "--no-pager", "--csv").stdout
    assert "extra_trees" in shown

    data.unlink()
    restored = project / "data" / "restored" / "iris.csv"
    back = _run(
        project, sys.executable, "-m", "scripts.lifecycle", "data", str(version.tag),
        "--output", str(restored),
    )  # fmt: skip
    assert restored.read_bytes() == rows
    assert f"md5 {file_md5(restored)}" in back.stdout


def test_without_dvc_on_the_data_the_lineage_says_why(iris_run):
    version = load_model_version(iris_run.tag)
    recorded = version.lineage["data_version"]
    assert recorded["tracked"] is False
    # `make test` installs DVC; a bare `make setup` does not, and the lineage says that instead.
    installed = importlib.util.find_spec("dvc") is not None
    expected = "iris.csv has no iris.csv.dvc beside it" if installed else "DVC is not installed"
    assert expected in recorded["reason"], recorded
