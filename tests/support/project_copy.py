"""A copy of the project made a git repository of its own, for tests that let DVC write."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from scripts.pipeline.params import PROJECT_ROOT

GIT = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
}


def run_in(project: Path, *command: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `command` in `project` and return it; fail the test, with its output, if it fails."""
    done = subprocess.run(
        command, cwd=project, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **GIT},  # BENTOML_HOME is the tests' own store (tests/conftest.py)
    )  # fmt: skip
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}\n{done.stderr}"
    return done


def committed_copy(copy: Path) -> Path:
    """Return `copy`, holding the project's files as they are in the work tree, committed to a
    git repository of its own, with the project's environment linked in."""
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
    run_in(copy, "git", "init", "-q")
    run_in(copy, "git", "add", "-A")
    run_in(copy, "git", "commit", "-q", "-m", "the project")
    return copy
