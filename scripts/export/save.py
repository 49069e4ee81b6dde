"""The export step: everything a run made, checked and gathered into one model store version."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from scripts.export.calibration import fit_calibrator
from scripts.export.lineage import lineage, portable_path
from scripts.export.onnx_graph import export_onnx, holds_booster
from scripts.export.suite_parity import suite_parity_report
from scripts.pipeline.reference import BINS, prediction_reference
from scripts.pipeline.rundir import RunDir
from scripts.pipeline.training import (
    load_pipeline,
    read_features,
    read_schema,
    trusted_skops_types,
)
from service.errors import UserError
from service.model.store import save_model_version
from service.model.version import (
    CALIBRATION_FILE,
    LINEAGE_FILE,
    METRICS_FILE,
    ONNX_FILE,
    PARAMS_FILE,
    PIPELINE_FILE,
    REFERENCE_FILE,
    SCHEMA_FILE,
    SUITE_FILE,
    ModelMetadata,
    held_out_metrics,
    version_labels,
)
from service.scoring.predictor import OnnxPredictor, PipelinePredictor


def stage_model(run: RunDir, params: dict, repo: Path, run_id: str) -> ModelMetadata:
    """Return the version's metadata, after writing its files to the run's staging folder."""
    staging = run.model_staging
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    schema = read_schema(run)
    pipeline = load_pipeline(run)
    labelled_holdout = read_features(run.holdout, schema)
    holdout = labelled_holdout.drop(columns=[schema.target])

    onnx = export_onnx(pipeline, schema, holdout)
    serves_onnx = onnx["model"] is not None and onnx["report"]["parity"]["passed"]
    if not serves_onnx and holds_booster(pipeline):
        raise UserError(
            f"the ONNX graph of {type(pipeline.steps[-1][1]).__name__} does not answer as the "
            f"pipeline does ({_why_not_onnx(onnx['report'])}); the service installs neither "
            "LightGBM nor XGBoost, so it could not serve this pipeline and nothing was exported. "
            "Train with -p estimator=lightgbm or xgboost as the project builds them, or another "
            "-p estimator=NAME"
        )
    if serves_onnx:
        (staging / ONNX_FILE).write_bytes(onnx["model"])
    shutil.copy2(run.pipeline, staging / PIPELINE_FILE)
    for source, file_name in (
        (run.schema, SCHEMA_FILE),
        (run.suite, SUITE_FILE),
        (run.reference, REFERENCE_FILE),
    ):
        shutil.copy2(source, staging / file_name)
    metrics = json.loads(run.metrics.read_text())
    # What the served predictor answers on the held-out rows: the baseline of prediction drift.
    served = (
        OnnxPredictor(onnx["model"], schema) if serves_onnx else PipelinePredictor(pipeline, schema)
    )
    answers, probabilities = served.predict(holdout)
    metrics["prediction_reference"] = prediction_reference(
        answers, list(schema.classes), int(params.get("drift_bins", BINS))
    )
    if not schema.is_regression:
        # The label-free performance estimate calibrates what the service answers.
        calibrator = fit_calibrator(
            labelled_holdout[schema.target].to_numpy(), probabilities, served.classes
        )
        (staging / CALIBRATION_FILE).write_text(json.dumps(calibrator.to_dict(), indent=2))
    (staging / METRICS_FILE).write_text(json.dumps(metrics, indent=2))
    record = lineage(repo, Path(params["data_path"]), run_id)
    portable = {**params, "data_path": portable_path(Path(params["data_path"]), repo)}
    (staging / PARAMS_FILE).write_text(json.dumps(portable, indent=2))
    (staging / LINEAGE_FILE).write_text(json.dumps(record, indent=2))

    suite = json.loads(run.suite.read_text())
    suite_parity = suite_parity_report(read_features(run.train_features, schema), suite)
    return ModelMetadata(
        serving_format="onnx" if serves_onnx else "skops",
        onnx=onnx["report"],
        skops_trusted=trusted_skops_types(run.pipeline),
        classes=[str(c) for c in schema.classes],
        metrics={name: metrics[name] for name in held_out_metrics(schema.task) if name in metrics},
        run_id=run_id,
        git_commit=record["git_commit"] or "unknown",
        data_sha256=record["data_sha256"],
        validation_parity={**suite_parity, "mismatches": suite_parity["mismatches"][:20]},
    )


def export_model(run: RunDir, params: dict, repo: Path, run_id: str) -> tuple[str, ModelMetadata]:
    """Return the new model tag and its metadata; nothing is stored if any step raises."""
    metadata = stage_model(run, params, repo, run_id)
    labels = version_labels(str(params.get("estimator")), run_id)
    tag = save_model_version(params["model_name"], run.model_staging, metadata, labels)
    return tag, metadata


def _why_not_onnx(report: dict) -> str:
    return report.get("error") or f"parity: {report.get('parity')}"
