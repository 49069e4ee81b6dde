"""The model version contract: the files one version holds, its metadata, and reading it back.

The export writes a version with these names and this metadata; the service (and any batch
scorer) reads it with the same code. Nothing here imports BentoML, so a Spark executor can read
a version from a plain folder; `service/model/store.py` is the BentoML side.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from service.errors import UserError
from service.model.calibration import CalibrationError, Calibrator
from service.model.schema import FeatureSchema

# The files of one version. The JSON documents are read at load; the models when served.
ONNX_FILE = "model.onnx"
PIPELINE_FILE = "pipeline.skops"
SCHEMA_FILE = "schema.json"
SUITE_FILE = "suite.json"
REFERENCE_FILE = "reference.json"
METRICS_FILE = "metrics.json"
PARAMS_FILE = "params.json"
LINEAGE_FILE = "lineage.json"
# A classifier's probability calibrator (service/model/calibration.py), for the label-free
# performance estimate. Optional: versions exported before it existed load without it.
CALIBRATION_FILE = "calibration.json"
# BentoML's own manifest of a version (tag, labels, metadata), in the store and in an export.
EXPORT_MANIFEST = "model.yaml"
DOCUMENT_FILES = (SCHEMA_FILE, SUITE_FILE, REFERENCE_FILE, METRICS_FILE, PARAMS_FILE, LINEAGE_FILE)
# The held-out metrics of a classifier, by name, listed once: what the run's report shows,
# what the metadata copies (where `bentoml models list` and `make models` see them) and what a
# promotion rule may name.
HELD_OUT_METRICS = ("accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc")
# The same for a regressor; lower is better for all but r2.
REGRESSION_METRICS = ("rmse", "mae", "r2", "median_absolute_error")


def held_out_metrics(task: str) -> tuple[str, ...]:
    """Return the held-out metric names of a task."""
    return REGRESSION_METRICS if task == "regression" else HELD_OUT_METRICS


ServingFormat = Literal["onnx", "skops"]


class ModelStoreError(UserError):
    """The model store has no usable version: missing, or its files do not match their hashes."""


@dataclass(frozen=True)
class ModelMetadata:
    """What the export records about a version, stored as the BentoML model's metadata."""

    serving_format: ServingFormat  # ONNX only when it converted and matched scikit-learn
    onnx: dict  # the conversion and parity report, or why there is no ONNX graph
    skops_trusted: list[str]  # the only types skops may load from pipeline.skops
    classes: list[str]
    metrics: dict[str, float | None]  # held_out_metrics(task) on the held-out split
    run_id: str
    git_commit: str
    data_sha256: str
    validation_parity: dict  # compiled suite against GX on the training data
    files: dict[str, str] = field(default_factory=dict)  # file name to sha256

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict, *, where: str) -> ModelMetadata:
        """Return the metadata in `data`, or raise naming the keys a version at `where` lacks."""
        names = [f.name for f in fields(cls)]
        missing = [name for name in names if name != "files" and name not in data]
        if missing:
            raise ModelStoreError(
                f"model version {where} lacks metadata {', '.join(missing)}; it was exported by "
                "an older or different template. Re-export it with `make pipeline`."
            )
        return cls(**{name: data[name] for name in names if name in data})


def version_labels(estimator: str, run_id: str) -> dict[str, str]:
    """Return the BentoML labels of a version: what `bentoml models list` can filter on."""
    return {"estimator": estimator, "run_id": run_id}


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def with_file_hashes(metadata: ModelMetadata, folder: Path) -> ModelMetadata:
    """Return `metadata` recording the sha256 of every file in `folder`."""
    files = {path.name: sha256_file(path) for path in sorted(folder.iterdir())}
    return replace(metadata, files=files)


def verify_files(folder: str | Path, expected: dict[str, str]) -> None:
    """Raise naming the first stored file that is missing or whose sha256 differs."""
    for file_name, digest in expected.items():
        path = Path(folder) / file_name
        if not path.is_file():
            raise ModelStoreError(f"model file {path} is missing; re-export with `make pipeline`")
        actual = sha256_file(path)
        if actual != digest:
            raise ModelStoreError(
                f"model file {path} has sha256 {actual[:12]}…, but the model version recorded "
                f"{digest[:12]}…; it changed after export. Re-export with `make pipeline`."
            )


@dataclass(frozen=True)
class ModelVersion:
    """One hash-checked version: its tag, folder, metadata and JSON documents."""

    tag: str
    path: Path
    metadata: ModelMetadata
    schema: FeatureSchema
    suite: dict
    reference: dict
    metrics: dict
    params: dict
    lineage: dict
    calibrator: Calibrator | None = None  # None: a regressor, or exported before calibration

    @property
    def serves_onnx(self) -> bool:
        return self.metadata.serving_format == "onnx"

    @property
    def onnx_path(self) -> Path:
        return self.path / ONNX_FILE

    def load_pipeline(self) -> Any:
        """Return the scikit-learn pipeline, trusting only the types recorded at export."""
        import skops.io

        return skops.io.load(self.path / PIPELINE_FILE, trusted=self.metadata.skops_trusted)


def read_model_version(tag: str, folder: str | Path, metadata: dict) -> ModelVersion:
    """Return the version in `folder` after checking every file against its recorded hash."""
    folder = Path(folder)
    recorded = ModelMetadata.from_dict(metadata, where=f"{tag} at {folder}")
    verify_files(folder, recorded.files)
    documents = {}
    for file_name in DOCUMENT_FILES:
        try:
            documents[file_name] = json.loads((folder / file_name).read_text())
        except (OSError, ValueError) as error:
            raise ModelStoreError(
                f"model file {folder / file_name} cannot be read ({error}); "
                "re-export with `make pipeline`"
            )
    calibrator = None
    if CALIBRATION_FILE in recorded.files:
        path = folder / CALIBRATION_FILE
        try:
            calibrator = Calibrator.from_dict(
                json.loads(path.read_text()), recorded.classes, where=str(path)
            )
        except (OSError, ValueError) as error:
            raise ModelStoreError(
                f"model file {path} cannot be read ({error}); re-export with `make pipeline`"
            )
        except CalibrationError as error:
            raise ModelStoreError(str(error))
    return ModelVersion(
        tag=tag,
        path=folder,
        metadata=recorded,
        schema=FeatureSchema.from_dict(documents[SCHEMA_FILE]),
        suite=documents[SUITE_FILE],
        reference=documents[REFERENCE_FILE],
        metrics=documents[METRICS_FILE],
        params=documents[PARAMS_FILE],
        lineage=documents[LINEAGE_FILE],
        calibrator=calibrator,
    )


def read_exported_model(folder: str | Path) -> ModelVersion:
    """Return the version `bentoml.models.export_model(..., "folder")` wrote to `folder`.

    For a Spark executor or a machine without the BentoML store: BentoML keeps a version's tag
    and metadata in the folder's `model.yaml`; every file is hash-checked as in the store.
    """
    import yaml

    folder = Path(folder)
    manifest = folder / EXPORT_MANIFEST
    try:
        info = yaml.safe_load(manifest.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ModelStoreError(
            f"{folder} is not an exported model version: cannot read {manifest.name} ({error}); "
            'export one with bentoml.models.export_model(TAG, PATH, "folder"), or pass the '
            "version's folder in the BentoML store"
        )
    if not isinstance(info, dict) or not all(key in info for key in ("name", "version")):
        raise ModelStoreError(f"{manifest} names no model; it needs `name` and `version`")
    metadata = info.get("metadata")
    if not isinstance(metadata, dict):
        raise ModelStoreError(f"{manifest} holds no metadata mapping; re-export the version")
    return read_model_version(f"{info['name']}:{info['version']}", folder, metadata)
