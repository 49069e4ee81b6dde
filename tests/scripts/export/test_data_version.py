import subprocess
from pathlib import Path

import pytest

from scripts.export.data_version import DVC, check_out, data_version, file_md5, track
from service.errors import UserError


def _repo(root: Path, dvc: bool = True) -> Path:
    """Return a fresh git repository, DVC-initialised with a local default remote if `dvc`."""
    root.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    if dvc:
        subprocess.run([DVC, "init", "-q"], cwd=root, check=True)
        subprocess.run([DVC, "remote", "add", "-d", "local", str(root.parent / "remote")],
                       cwd=root, check=True, capture_output=True)  # fmt: skip
    return root


def test_a_file_put_under_dvc_is_named_by_its_md5_and_comes_back_byte_for_byte(tmp_path):
    repo = _repo(tmp_path / "repo")
    data = repo / "data" / "versions" / "run1" / "training_data.csv"
    data.parent.mkdir(parents=True)
    data.write_bytes(b"size,kind\n1.5,a\n,b\n")
    version = track(repo, data)
    assert version == {
        "tracked": True,
        "md5": file_md5(data),
        "size": len(data.read_bytes()),
        "dvc_file": "data/versions/run1/training_data.csv.dvc",
    }
    assert (tmp_path / "remote").is_dir()  # pushed to the default remote

    data.unlink()
    back = check_out(repo, version, repo / "data" / "restored" / "again.csv")
    assert back.read_bytes() == b"size,kind\n1.5,a\n,b\n"

    # From the remote alone, when the cache has lost it.
    subprocess.run(["rm", "-rf", str(repo / ".dvc" / "cache")], check=True)
    back.unlink()
    again = check_out(repo, version, repo / "data" / "restored" / "third.csv")
    assert again.read_bytes() == b"size,kind\n1.5,a\n,b\n"


def test_lineage_says_why_a_file_has_no_data_version(tmp_path):
    plain = _repo(tmp_path / "plain", dvc=False)
    (plain / "t.csv").write_text("a\n1\n")
    assert data_version(plain, plain / "t.csv") == {
        "tracked": False,
        "reason": f"{plain} is not a DVC repository (run dvc init there)",
    }
    repo = _repo(tmp_path / "repo")
    (repo / "t.csv").write_text("a\n1\n")
    assert "no t.csv.dvc beside it" in data_version(repo, repo / "t.csv")["reason"]
    track(repo, repo / "t.csv")
    (repo / "t.csv").write_text("a\n2\n")
    assert "changed since dvc add" in data_version(repo, repo / "t.csv")["reason"]


def test_a_version_without_dvc_lineage_cannot_be_checked_out(tmp_path):
    with pytest.raises(UserError, match=r"not versioned with DVC: DVC is not installed"):
        check_out(tmp_path, {"tracked": False, "reason": "DVC is not installed"}, tmp_path / "x")
