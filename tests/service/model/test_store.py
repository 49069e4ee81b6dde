"""The model store entry: written whole or not at all, and refused when a file changed."""

import bentoml
import pytest
from support.store_entries import METADATA
from support.store_entries import staging_folder as _staging

from service.model.store import find_model, save_model_version
from service.model.version import ModelMetadata, ModelStoreError, verify_files


def test_saved_version_records_the_hash_of_every_file(tmp_path):
    tag = save_model_version("store_unit", _staging(tmp_path), METADATA, {"l": "1"})
    model = bentoml.models.get(tag)
    assert set(model.info.metadata["files"]) == {"a.json", "b.bin"}
    assert model.info.metadata["run_id"] == "run" and model.info.labels == {"l": "1"}
    stored = ModelMetadata.from_dict(dict(model.info.metadata), where=tag)
    assert stored.classes == ["a", "b"] and stored.metrics == {"accuracy": 0.9}
    verify_files(model.path, model.info.metadata["files"])


def test_changed_file_is_named(tmp_path):
    tag = save_model_version("store_changed", _staging(tmp_path), METADATA, {})
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

    monkeypatch.setattr("service.model.store.shutil.copy2", copy_then_fail)
    with pytest.raises(OSError, match="disk full"):
        save_model_version("store_broken", _staging(tmp_path), METADATA, {})
    assert len(copied) == 1
    assert [m for m in bentoml.models.list() if m.tag.name == "store_broken"] == []


def test_missing_model_names_tag_store_and_fix():
    with pytest.raises(
        ModelStoreError,
        match=r"no model 'absent:latest' in the BentoML model store at .*make pipeline",
    ):
        find_model("absent:latest")


def test_metadata_without_a_contract_key_is_refused_by_name():
    partial = {k: v for k, v in METADATA.to_dict().items() if k != "skops_trusted"}
    with pytest.raises(ModelStoreError, match="x:1 lacks metadata skops_trusted.*make pipeline"):
        ModelMetadata.from_dict(partial, where="x:1")
