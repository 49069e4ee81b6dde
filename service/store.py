"""The BentoML model store entry: one version holding everything the service needs, hash-checked."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import bentoml

from service.errors import PipelineError
from service.schema import FeatureSchema

SKOPS_FILE = "pipeline.skops"
ONNX_FILE = "model.onnx"
JSON_FILES = ("schema", "suite", "reference", "metrics", "params", "lineage")


class ModelStoreError(PipelineError):
    """The model store has no usable version: missing, or its files do not match their hashes."""


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_model_version(name: str, staging: Path, metadata: dict, labels: dict) -> str:
    """Return the tag of a new model version made of every file in `staging`.

    BentoML writes the version in a temporary folder and moves it into the store only when
    the block ends without an error, so a version is stored whole or not at all.
    """
    files = {path.name: sha256_file(path) for path in sorted(staging.iterdir())}
    with bentoml.models.create(name, metadata={**metadata, "files": files}, labels=labels) as model:
        for file_name in files:
            shutil.copy2(staging / file_name, model.path_of(file_name))
    return str(model.tag)


@dataclass(frozen=True)
class ModelEntry:
    tag: str
    path: Path
    metadata: dict
    schema: FeatureSchema
    suite: dict
    reference: dict
    metrics: dict
    params: dict
    lineage: dict

    @property
    def onnx_path(self) -> Path | None:
        path = self.path / ONNX_FILE
        return path if path.exists() else None

    def load_pipeline(self):
        """Return the scikit-learn pipeline, trusting only the types recorded at export."""
        import skops.io

        return skops.io.load(self.path / SKOPS_FILE, trusted=self.metadata["skops_trusted"])


def find_model(tag: str) -> bentoml.Model:
    """Return the model version for `tag`, or raise naming the tag, the store and the fix."""
    try:
        return bentoml.models.get(tag)
    except bentoml.exceptions.NotFound:
        raise ModelStoreError(
            f"no model {tag!r} in the BentoML model store at {_store_path()}; "
            "run `make pipeline` to train and export one, or set MODEL_TAG to one that exists"
        ) from None


def verify_files(model_path: str | Path, expected: dict[str, str]) -> None:
    """Raise naming the first stored file that is missing or whose sha256 differs."""
    for file_name, digest in expected.items():
        path = Path(model_path) / file_name
        if not path.is_file():
            raise ModelStoreError(f"model file {path} is missing; re-export with `make pipeline`")
        actual = sha256_file(path)
        if actual != digest:
            raise ModelStoreError(
                f"model file {path} has sha256 {actual[:12]}…, but the model version recorded "
                f"{digest[:12]}…; it changed after export. Re-export with `make pipeline`."
            )


def load_model_version(tag: str) -> ModelEntry:
    """Return the stored entry for `tag` after checking every file against its recorded hash."""
    model = find_model(tag)
    path = Path(model.path)
    metadata = dict(model.info.metadata)
    verify_files(path, metadata.get("files", {}))
    documents = {name: json.loads((path / f"{name}.json").read_text()) for name in JSON_FILES}
    return ModelEntry(
        tag=str(model.tag),
        path=path,
        metadata=metadata,
        schema=FeatureSchema.from_dict(documents.pop("schema")),
        **documents,
    )


def _store_path() -> str:
    from bentoml._internal.configuration.containers import BentoMLContainer

    # BentoML has no public accessor for where BENTOML_HOME resolved to.
    return str(Path(BentoMLContainer.bentoml_home.get()) / "models")
