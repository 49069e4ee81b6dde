"""Rendering kustomizations the way `kubectl apply -k` would, for the manifest tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

KUBECTL = shutil.which("kubectl")


def render(kustomization: Path) -> list[dict]:
    """Return the objects `kubectl kustomize` renders from `kustomization`."""
    done = subprocess.run(
        [KUBECTL, "kustomize", str(kustomization)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"kubectl kustomize {kustomization} failed:\n{done.stderr}"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def one(objects: list[dict], kind: str) -> dict:
    """Return the only object of `kind`, failing when there is none or more than one."""
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]
