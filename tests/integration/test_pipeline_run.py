"""The real runner, real papermill and the real BentoML store, end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import bentoml
import pandas as pd
import pytest
import skops.io
from support.pipeline_runs import run_pipeline

from scripts.pipeline.params import load_params
from scripts.pipeline.rundir import RunDir
from scripts.pipeline.training import build_pipeline, load_pipeline, read_schema
from service.model.store import load_model_version, model_versions
from service.model.version import sha256_file
from service.scoring.predictor import PipelinePredictor

# 05_export runs after the export and the promotion gate, on what they recorded.
NOTEBOOKS = ("01_validate_data", "02_train", "03_evaluate", "05_export")
STORED_FILES = {
    "pipeline.skops",
    "model.onnx",
    "suite.json",
    "schema.json",
    "reference.json",
    "metrics.json",
    "params.json",
    "lineage.json",
    "calibration.json",
}


def test_iris_run_exports_one_version_with_every_item(iris_run):
    model = bentoml.models.get(iris_run.tag)
    files = model.info.metadata["files"]
    assert set(files) == STORED_FILES
    for name, digest in files.items():
        assert sha256_file(Path(model.path) / name) == digest, name

    entry = load_model_version(iris_run.tag)
    assert entry.schema.names == [
        "sepal_length_cm",
        "sepal_width_cm",
        "petal_length_cm",
        "petal_width_cm",
    ]
    assert entry.schema.classes == ["setosa", "versicolor", "virginica"]
    assert {e["type"] for e in entry.suite["expectations"]} >= {
        "expect_table_columns_to_match_set",
        "expect_column_values_to_be_between",
    }
    assert set(entry.reference) == set(entry.schema.names)
    assert entry.metrics["accuracy"] >= 0.85 and "per_class" in entry.metrics
    assert entry.params["estimator"] == "random_forest"
    # The drift settings are recorded like every parameter, and the reference is binned by them.
    assert entry.params["drift_bins"] == 10 and entry.params["drift_cdf_points"] == 1000
    assert all(len(stats["bin_shares"]) <= 10 for stats in entry.reference.values())
    assert entry.lineage["run_id"] == iris_run.run_dir.name
    assert entry.lineage["data_sha256"] == sha256_file(Path("data/iris.csv"))
    assert len(entry.lineage["git_commit"] or "") in (0, 40)
    assert "scikit-learn" in entry.lineage["libraries"]
    assert entry.metadata.serving_format == "onnx"
    assert entry.metadata.onnx["parity"]["labels_differing"] == 0
    assert entry.metadata.onnx["parity"]["max_probability_difference"] <= 1e-5
    validation = entry.metadata.validation_parity
    assert validation["agree"] and validation["checked_frames"] >= 6
    assert validation["expectations_compared"] >= 6 * len(entry.suite["expectations"])


def test_stored_pipeline_predicts_the_notebook_labels(iris_run):
    entry = load_model_version(iris_run.tag)
    notebook = pd.read_csv(iris_run.run_dir / "holdout_predictions.csv")
    labels, _ = PipelinePredictor(entry.load_pipeline(), entry.schema).predict(notebook)
    assert list(labels) == list(notebook["predicted"])


def test_stored_pipeline_is_skops_not_pickle(iris_run):
    entry = load_model_version(iris_run.tag)
    untrusted = skops.io.get_untrusted_types(file=entry.path / "pipeline.skops")
    assert sorted(untrusted) == sorted(entry.metadata.skops_trusted)


def test_run_dir_holds_executed_notebooks_html_and_index(iris_run):
    for name in NOTEBOOKS:
        executed = json.loads((iris_run.run_dir / f"{name}.ipynb").read_text())
        assert any(cell.get("outputs") for cell in executed["cells"]), name
        assert "<html" in (iris_run.run_dir / f"{name}.html").read_text()[:2000].lower()
    index = (iris_run.run_dir / "index.html").read_text()
    assert iris_run.tag in index and "confusion_matrix.png" in index
    assert "05_export.html" in index and "export.json" in index
    assert (iris_run.run_dir / "data_validation.html").exists()
    latest = iris_run.run_dir.parent / "latest"
    assert latest.resolve() == iris_run.run_dir.resolve()


def test_export_notebook_shows_what_the_export_and_the_gate_recorded(iris_run):
    record = json.loads((iris_run.run_dir / "export.json").read_text())
    model = bentoml.models.get(iris_run.tag)
    assert record["tag"] == iris_run.tag and record["stored"] is True
    assert record["metadata"] == dict(model.info.metadata)
    assert record["labels"] == {"estimator": "random_forest", "run_id": iris_run.run_dir.name}

    executed = json.loads((iris_run.run_dir / "05_export.ipynb").read_text())
    outputs = "".join(
        "".join(output.get("text", "")) + "".join(output.get("data", {}).get("text/html", ""))
        for cell in executed["cells"]
        for output in cell.get("outputs", [])
    )
    assert not any(
        output.get("output_type") == "error"
        for cell in executed["cells"]
        for output in cell.get("outputs", [])
    )
    for shown in (
        iris_run.tag,  # the version table
        record["metadata"]["files"]["model.onnx"],  # the files and their hashes
        "largest probability difference",  # ONNX parity
        "verdicts compared",  # suite parity
        "every verdict agrees",
    ):
        assert shown in outputs, shown
    gate = json.loads((iris_run.run_dir / "comparison.json").read_text())
    verdict = "it became the champion" if gate["champion"] is None else "Challenger"
    assert verdict in outputs
    page = (iris_run.run_dir / "05_export.html").read_text()
    assert page.count("<table") >= 5 and iris_run.tag in page


def _shape(value: object) -> object:
    """Return an estimator as plain data: its class and parameters, steps and columns within."""
    if hasattr(value, "get_params"):
        params = value.get_params(deep=False)
        return (type(value).__name__, {name: _shape(param) for name, param in params.items()})
    if isinstance(value, list | tuple):
        return [_shape(item) for item in value]
    if isinstance(value, float) and math.isnan(value):
        return "nan"  # SimpleImputer's missing_values; nan != nan
    return value


def test_the_notebook_trains_the_pipeline_build_pipeline_composes(iris_run):
    # 02_train passes the steps its cells show to build_pipeline; with the shipped cells, its
    # pipeline is the one build_pipeline gives for params.yaml, step for step.
    run = RunDir(iris_run.run_dir)
    params = load_params()
    expected = build_pipeline(
        read_schema(run), params["estimator"], params["hyperparameters"], params["random_state"]
    )
    assert _shape(load_pipeline(run)) == _shape(expected)


def test_generated_csv_with_categories_and_gaps_goes_through(mixed_run):
    entry = load_model_version(mixed_run.tag)
    by_name = {f.name: f for f in entry.schema.features}
    assert by_name["city"].kind == "categorical" and by_name["city"].nullable
    assert by_name["city"].categories == ["east", "north", "south", "west"]
    assert by_name["age"].kind == "numeric" and by_name["age"].nullable
    assert by_name["plan"].nullable is False
    assert entry.schema.classes == [0, 1]
    assert "note: no reviewed suite at expectations/churn.json" in mixed_run.done.stdout
    assert entry.metrics["roc_auc"] > 0.75
    notebook = pd.read_csv(
        mixed_run.run_dir / "holdout_predictions.csv", dtype={"city": "str", "plan": "str"}
    )
    labels, _ = PipelinePredictor(entry.load_pipeline(), entry.schema).predict(notebook)
    assert list(labels) == list(notebook["predicted"])


def test_impossible_quality_gate_fails_and_exports_nothing(tmp_path):
    run_dir = tmp_path / "gate"
    done = run_pipeline("-p", "model_name=gated", "-p", "min_accuracy=1.01", run_dir=run_dir)
    assert done.returncode != 0
    assert "03_evaluate.ipynb failed in cell" in done.stderr
    assert "accuracy" in done.stderr and "min_accuracy=1.01" in done.stderr
    assert str(run_dir / "03_evaluate.ipynb") in done.stderr
    assert (run_dir / "03_evaluate.ipynb").exists() and (run_dir / "metrics.json").exists()
    assert model_versions("gated") == []
    assert not (run_dir.parent / "latest").exists()
    # Nothing was exported, so 05_export has nothing to show: it is not run, and the runner says so.
    assert "05_export.ipynb not run" in done.stdout
    assert not (run_dir / "05_export.ipynb").exists() and not (run_dir / "export.json").exists()
    assert "05_export" not in (run_dir / "index.html").read_text()


def _data(directory: Path, name: str, content: str | bytes) -> list[str]:
    """Return the override that points the pipeline at a file holding `content`."""
    path = directory / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return ["-p", f"data_path={path}"]


BAD_INPUTS = {
    "missing_file": (lambda d: ["-p", f"data_path={d / 'nope.csv'}"], "does not exist"),
    "empty_file": (lambda d: _data(d, "e.csv", ""), "is empty"),
    "header_only": (lambda d: _data(d, "h.csv", "a,b\n"), "no data rows"),
    "not_a_csv": (lambda d: _data(d, "b.csv", bytes(range(256)) * 4), "not a readable CSV"),
    "ragged_csv": (lambda d: _data(d, "r.csv", "a,b\n1,2\n1,2,3,4\n"), "not a readable CSV"),
    "missing_target": (
        lambda d: ["-p", "target=colour"],
        "target column 'colour' is not in iris.csv",
    ),
    "one_class": (
        lambda d: [*_data(d, "o.csv", "x,y\n1,a\n2,a\n3,a\n"), "-p", "target=y"],
        "has one value ('a') in every labelled row",
    ),
    "unknown_parameter": (
        lambda d: ["-p", "n_trees=5"],
        "unknown parameter 'n_trees'; known parameters:",
    ),
    "wrong_type": (lambda d: ["-p", "test_size=lots"], "parameter test_size must be a number"),
    "unknown_estimator": (lambda d: ["-p", "estimator=magic"], "unknown estimator 'magic'"),
    "one_drift_bin": (
        lambda d: ["-p", "drift_bins=1"],
        "drift_bins must be a whole number of at least 2, not 1",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_fails_with_its_message_and_exports_nothing(case, tmp_path):
    make_args, message = BAD_INPUTS[case]
    done = run_pipeline(
        "-p", f"model_name=bad_{case}", *make_args(tmp_path), run_dir=tmp_path / "run"
    )
    assert done.returncode == 1
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert model_versions(f"bad_{case}") == []
