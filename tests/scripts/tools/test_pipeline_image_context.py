"""The pipeline image's build context: only what the pipeline reads, named by its content."""

from __future__ import annotations

import pytest

from scripts.pipeline.params import PROJECT_ROOT
from scripts.tools.release import pipeline_image
from scripts.tools.release.pipeline_image import stage


def test_the_context_holds_what_the_pipeline_reads_and_nothing_else(tmp_path):
    stage(tmp_path)
    top = {path.name for path in tmp_path.iterdir()}
    assert top == {
        "pyproject.toml",
        "uv.lock",
        "params.yaml",
        "notebooks",
        "scripts",
        "service",
        "expectations",
        "data",
    }
    assert (tmp_path / "scripts" / "monitor" / "run.py").is_file()
    assert (tmp_path / "data" / "iris.csv").is_file()
    assert not list(tmp_path.rglob("__pycache__")) and not list(tmp_path.rglob("*.pyc"))
    assert not (tmp_path / "data" / "versions").exists()


def test_the_tag_follows_the_staged_content(tmp_path, monkeypatch):
    first = stage(tmp_path / "a")
    assert stage(tmp_path / "b") == first
    # A project whose params.yaml differs stages to another tag.
    project = tmp_path / "project"
    project.mkdir()
    for name in {*pipeline_image.SOURCES, "expectations", "data"} - {"params.yaml"}:
        (project / name).symlink_to(PROJECT_ROOT / name)
    (project / "params.yaml").write_text((PROJECT_ROOT / "params.yaml").read_text() + "\n# x\n")
    monkeypatch.setattr(pipeline_image, "PROJECT_ROOT", project)
    assert stage(tmp_path / "c") != first
    (project / "params.yaml").write_text((PROJECT_ROOT / "params.yaml").read_text())
    assert stage(tmp_path / "d") == first


def test_a_machine_without_buildah_is_told_what_to_install(monkeypatch):
    monkeypatch.setattr(pipeline_image.shutil, "which", lambda name: None)
    with pytest.raises(pipeline_image.UserError, match="buildah is not installed"):
        pipeline_image.build()
