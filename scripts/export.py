"""The export step: everything a run made, checked and gathered into one model store version."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import skops.io

from scripts.lineage import lineage
from scripts.onnx_export import export_onnx
from scripts.parity import parity_report
from scripts.rundir import RunDir
from scripts.training import load_pipeline, read_features, read_schema
from service.store import ONNX_FILE, SKOPS_FILE, save_model_version


def stage_model(run: RunDir, params: dict, repo: Path, run_id: str) -> tuple[dict, dict]:
    """Return the version's metadata and labels, after writing its files to the staging folder."""
    staging = run.model_staging
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    schema = read_schema(run)
    pipeline = load_pipeline(run)
    holdout = read_features(run.holdout, schema).drop(columns=[schema.target])

    onnx = export_onnx(pipeline, schema, holdout)
    serving_format = "skops"
    if onnx["model"] is not None and onnx["report"]["parity"]["passed"]:
        (staging / ONNX_FILE).write_bytes(onnx["model"])
        serving_format = "onnx"

    shutil.copy2(run.pipeline, staging / SKOPS_FILE)
    for name, source in (
        ("schema", run.schema),
        ("suite", run.suite),
        ("reference", run.reference),
        ("metrics", run.metrics),
    ):
        shutil.copy2(source, staging / f"{name}.json")
    data_path = Path(params["data_path"])
    record = lineage(repo, data_path, run_id)
    (staging / "params.json").write_text(json.dumps(params, indent=2))
    (staging / "lineage.json").write_text(json.dumps(record, indent=2))

    suite = json.loads(run.suite.read_text())
    parity = parity_report(read_features(run.train_features, schema), suite)
    metrics = json.loads(run.metrics.read_text())
    metadata = {
        "validation_parity": {**parity, "mismatches": parity["mismatches"][:20]},
        "serving_format": serving_format,
        "onnx": onnx["report"],
        "skops_trusted": skops.io.get_untrusted_types(file=run.pipeline),
        "classes": [str(c) for c in schema.classes],
        "metrics": {k: metrics[k] for k in ("accuracy", "f1_macro", "roc_auc") if k in metrics},
        "run_id": run_id,
        "git_commit": record["git_commit"] or "unknown",
        "data_sha256": record["data_sha256"],
    }
    labels = {"estimator": str(params.get("estimator")), "run_id": run_id}
    return metadata, labels


def export_model(run: RunDir, params: dict, repo: Path, run_id: str) -> tuple[str, dict]:
    """Return the new model tag and its metadata; nothing is stored if any step raises."""
    metadata, labels = stage_model(run, params, repo, run_id)
    tag = save_model_version(params["model_name"], run.model_staging, metadata, labels)
    return tag, metadata
