"""The model store entry: written whole or not at all, and refused when a file changed."""

import json

import bentoml
import pytest

from service.store import ModelStoreError, find_model, save_model_version, verify_files


def _staging(tmp_path):
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / "a.json").write_text(json.dumps({"x": 1}))
    (staging / "b.bin").write_bytes(b"\x00\x01")
    return staging


def test_saved_version_records_the_hash_of_every_file(tmp_path):
    tag = save_model_version("store_unit", _staging(tmp_path), {"k": "v"}, {"l": "1"})
    model = bentoml.models.get(tag)
    assert set(model.info.metadata["files"]) == {"a.json", "b.bin"}
    assert model.info.metadata["k"] == "v" and model.info.labels == {"l": "1"}
    verify_files(model.path, model.info.metadata["files"])


def test_changed_file_is_named(tmp_path):
    tag = save_model_version("store_changed", _staging(tmp_path), {}, {})
    model = bentoml.models.get(tag)
    with open(f"{model.path}/b.bin", "ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(ModelStoreError, match=r"b\.bin has sha256 .* changed after export"):
        verify_files(model.path, model.info.metadata["files"])


def test_a_failure_while_writing_leaves_no_version(tmp_path, monkeypatch):
    import shutil

    copied = []

    def copy_then_fail(source, target):
        if copied:
            raise OSError("disk full")
        copied.append(shutil.copyfile(source, target))

    monkeypatch.setattr("service.store.shutil.copy2", copy_then_fail)
    with pytest.raises(OSError, match="disk full"):
        save_model_version("store_broken", _staging(tmp_path), {}, {})
    assert len(copied) == 1
    assert [m for m in bentoml.models.list() if m.tag.name == "store_broken"] == []


def test_missing_model_names_tag_store_and_fix():
    with pytest.raises(
        ModelStoreError,
        match=r"no model 'absent:latest' in the BentoML model store at .*make pipeline",
    ):
        find_model("absent:latest")
