"""DVC over the pipeline with real parts, in a copy of the project made a git repository of its
own: the data put under DVC, `dvc exp run -S ...` running the papermill pipeline into the
BentoML store, the version's lineage naming the DVC hash of its data, and `python -m
scripts.lifecycle data` bringing those rows back."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from support.project_copy import committed_copy, run_in

from scripts.export.data_version import DVC, file_md5
from service.model.store import load_model_version

pytestmark = pytest.mark.integration

NAME = "dvc_iris"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return committed_copy(tmp_path_factory.mktemp("dvc") / "project")


def test_dvc_exp_run_trains_and_the_lineage_brings_its_data_back(project):
    data = project / "data" / "iris.csv"
    rows = data.read_bytes()
    run_in(project, "git", "rm", "-q", "--cached", "data/iris.csv")
    run_in(project, DVC, "add", "--quiet", "data/iris.csv")
    run_in(project, "git", "add", "data/iris.csv.dvc", "data/.gitignore")
    run_in(project, "git", "commit", "-q", "-m", "iris under DVC")

    done = run_in(
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
    shown = run_in(project, DVC, "exp", "show", "--no-pager", "--csv").stdout
    assert "extra_trees" in shown

    data.unlink()
    restored = project / "data" / "restored" / "iris.csv"
    back = run_in(
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
