"""Lineage of a run: the code, the data and the libraries a model version came from."""

from __future__ import annotations

import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from scripts.export.data_version import data_version
from service.model.version import sha256_file

LIBRARIES = (
    "bentoml",
    "great-expectations",
    "numpy",
    "onnx",
    "onnxruntime",
    "pandas",
    "papermill",
    "scikit-learn",
    "skl2onnx",
    "skops",
)


def git_state(repo: Path) -> dict:
    """Return the commit checked out in `repo` and whether the work tree had changes."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
            )
        except (OSError, subprocess.CalledProcessError):
            return None
        return done.stdout.strip()

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_dirty": bool(status) if status is not None else None}


def library_versions() -> dict[str, str]:
    """Return the installed version of each library that shapes the model."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def portable_path(path: Path, repo: Path) -> str:
    """Return `path` relative to the repository, or its bare name when it lies outside.

    The version travels to other machines and /metadata shows it: the training machine's
    folders are nobody's business there.
    """
    try:
        return Path(path).resolve().relative_to(Path(repo).resolve()).as_posix()
    except ValueError:
        return Path(path).name


def lineage(repo: Path, data_path: Path, run_id: str) -> dict:
    """Return the lineage record stored with a model version."""
    return {
        "run_id": run_id,
        **git_state(repo),
        "data_path": portable_path(data_path, repo),
        "data_sha256": sha256_file(data_path),
        # DVC's md5 of the data and its .dvc file, or why it has none.
        "data_version": data_version(repo, data_path),
        "libraries": library_versions(),
    }
