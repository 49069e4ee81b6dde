"""The BentoML model store side of the contract: save a version whole, find it, load it."""

from __future__ import annotations

import shutil
from pathlib import Path

import bentoml

from service.model_version import (
    ModelMetadata,
    ModelStoreError,
    ModelVersion,
    read_model_version,
    with_file_hashes,
)


def save_model_version(
    name: str, staging: Path, metadata: ModelMetadata, labels: dict[str, str]
) -> str:
    """Return the tag of a new model version made of every file in `staging`.

    BentoML writes the version in a temporary folder and moves it into the store only when
    the block ends without an error, so a version is stored whole or not at all.
    """
    metadata = with_file_hashes(metadata, staging)
    with bentoml.models.create(name, metadata=metadata.to_dict(), labels=labels) as model:
        for file_name in metadata.files:
            shutil.copy2(staging / file_name, model.path_of(file_name))
    return str(model.tag)


def find_model(tag: str) -> bentoml.Model:
    """Return the model version for `tag`, or raise naming the tag, the store and the fix."""
    try:
        return bentoml.models.get(tag)
    except bentoml.exceptions.NotFound:
        raise ModelStoreError(
            f"no model {tag!r} in the BentoML model store at {_store_path()}; "
            "run `make pipeline` to train and export one, or set MODEL_TAG to one that exists"
        ) from None


def load_model_version(tag: str) -> ModelVersion:
    """Return the stored version for `tag` after checking every file against its recorded hash."""
    model = find_model(tag)
    return read_model_version(str(model.tag), model.path, dict(model.info.metadata))


def _store_path() -> str:
    from bentoml._internal.configuration.containers import BentoMLContainer

    # BentoML has no public accessor for where BENTOML_HOME resolved to.
    return str(Path(BentoMLContainer.bentoml_home.get()) / "models")
