"""Data versions kept with DVC: a data file's DVC hash for a version's lineage, a new file put
under DVC, and a recorded version checked out again. DVC is optional (`make dvc`): without it,
or in a repository nobody ran `dvc init` in, the lineage says so and nothing else changes."""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import yaml

from service.errors import UserError

DVC = str(Path(sys.executable).parent / "dvc")
# Where `make retrain` keeps its training sets when DVC is on: inside the repository, as DVC
# tracks nothing that git ignores (reports/ is ignored), one file per model, versioned by DVC.
VERSIONS_DIR = Path("data") / "versions"


def dvc_unavailable(repo: Path) -> str | None:
    """Return why DVC cannot version data in `repo`, or None when it can."""
    if importlib.util.find_spec("dvc") is None:
        return "DVC is not installed (make dvc installs it)"
    if not (Path(repo) / ".dvc").is_dir():
        return f"{repo} is not a DVC repository (run dvc init there)"
    return None


def file_md5(path: Path) -> str:
    """Return the md5 DVC 3 records for a file: of its bytes, as they are."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def data_version(repo: Path, data_path: Path) -> dict:
    """Return what DVC knows of `data_path`: its .dvc file and md5 when DVC tracks it as it is
    now, else `tracked: false` and why."""
    reason = dvc_unavailable(repo)
    if reason is not None:
        return {"tracked": False, "reason": reason}
    data_path = Path(data_path).resolve()
    dvc_file = data_path.with_name(data_path.name + ".dvc")
    if not dvc_file.is_file():
        return {
            "tracked": False,
            "reason": f"{data_path.name} has no {dvc_file.name} beside it (dvc add tracks it)",
        }
    outs = (yaml.safe_load(dvc_file.read_text()) or {}).get("outs") or [{}]
    md5 = outs[0].get("md5")
    if md5 != file_md5(data_path):
        return {
            "tracked": False,
            "reason": f"{data_path.name} changed since dvc add recorded it; run dvc add again",
        }
    repo = Path(repo).resolve()
    return {
        "tracked": True,
        "md5": md5,
        "size": outs[0].get("size"),
        "dvc_file": dvc_file.relative_to(repo).as_posix(),
    }


def _dvc(repo: Path, *args: str) -> str:
    done = subprocess.run([DVC, *args], cwd=repo, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["(no output)"]
        raise UserError(f"dvc {' '.join(args)} failed in {repo}: {lines[-1]}")
    return done.stdout


def track(repo: Path, path: Path) -> dict:
    """Return the data version of `path` after `dvc add` (and `dvc push`, when the repository
    has a default remote) put it under DVC."""
    relative = Path(path).resolve().relative_to(Path(repo).resolve()).as_posix()
    _dvc(repo, "add", "--quiet", relative)
    if _dvc(repo, "remote", "default").strip():
        _dvc(repo, "push", "--quiet", relative + ".dvc")
    return data_version(repo, path)


def check_out(repo: Path, version: dict, output: Path) -> Path:
    """Return `output` after DVC brought back the rows of a recorded data version there, from
    its cache or its default remote: a .dvc file naming the md5 is written beside `output`."""
    if not version.get("tracked"):
        raise UserError(f"that data was not versioned with DVC: {version.get('reason')}")
    output = Path(output).resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    record = {"outs": [{"md5": version["md5"], "size": version["size"], "hash": "md5"}]}
    record["outs"][0]["path"] = output.name
    dvc_file = output.with_name(output.name + ".dvc")
    dvc_file.write_text(yaml.safe_dump(record, sort_keys=False))
    relative = dvc_file.relative_to(Path(repo).resolve()).as_posix()
    try:
        _dvc(repo, "checkout", "--quiet", relative)
    except UserError:
        _dvc(repo, "pull", "--quiet", relative)
    return output
