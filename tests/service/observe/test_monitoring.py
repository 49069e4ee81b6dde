"""The monitor counts what it scores: classes and drift bins, published in batches."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from prometheus_client import REGISTRY

from scripts.pipeline.params import PROJECT_ROOT
from service.model.store import load_model_version
from service.observe.estimate import estimate
from service.observe.monitoring import Monitor
from service.scoring.core import Scored, Scorer
from service.validation.results import Rejection

pytestmark = pytest.mark.integration


def sample(name: str, labels: dict) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_classes_and_bins_are_counted_and_flushed(iris_run):
    version = load_model_version(iris_run.tag)
    monitor = Monitor(version, Scorer(version))
    monitor.start()
    frame = pd.read_csv(PROJECT_ROOT / "data" / "iris.csv")[version.schema.names]
    before = {
        c: sample("model_service_predictions_total", {"model": version.tag, "class": c})
        for c in monitor.scorer.classes
    }
    scored = [monitor.score(frame.iloc[[i]].reset_index(drop=True)) for i in range(len(frame))]
    assert all(isinstance(s, Scored) for s in scored)
    monitor.flush()
    labels = np.concatenate([s.labels for s in scored]).astype(str)
    for label in monitor.scorer.classes:
        counted = (
            sample("model_service_predictions_total", {"model": version.tag, "class": label})
            - before[label]
        )
        assert counted == np.sum(labels == label)
    rows = sum(
        sample(
            "model_service_drift_rows_total",
            {"model": version.tag, "feature": "petal_length_cm", "bin": f"b{i}"},
        )
        for i in range(10)
    )
    assert rows >= len(frame)
    share = sample(
        "model_service_drift_reference_share",
        {"model": version.tag, "feature": "petal_length_cm", "bin": "missing"},
    )
    assert share == 0.0


def test_the_answers_are_counted_into_the_bins_of_the_held_out_answers(iris_run):
    version = load_model_version(iris_run.tag)
    reference = version.metrics["prediction_reference"]
    assert reference["kind"] == "categorical"
    assert sum(reference["category_shares"].values()) == pytest.approx(1.0)
    monitor = Monitor(version, Scorer(version))
    monitor.start()
    frame = pd.read_csv(PROJECT_ROOT / "data" / "iris.csv")[version.schema.names]

    def counted(label: str) -> float:
        return sample(
            "model_service_prediction_bin_rows_total", {"model": version.tag, "bin": label}
        )

    before = {label: counted(label) for label in monitor.scorer.classes}
    one = monitor.score(frame.iloc[[0]].reset_index(drop=True))
    many = monitor.score(frame.iloc[1:].reset_index(drop=True))
    monitor.flush()
    labels = np.concatenate([one.labels, many.labels]).astype(str)
    for label in monitor.scorer.classes:
        assert counted(label) - before[label] == np.sum(labels == label), label
        share = sample(
            "model_service_prediction_reference_share", {"model": version.tag, "bin": label}
        )
        assert share == pytest.approx(reference["category_shares"][label])


def test_failed_expectations_on_a_client_key_share_one_label(iris_run):
    version = load_model_version(iris_run.tag)
    monitor = Monitor(version, Scorer(version))
    monitor.start()
    frame = pd.DataFrame({name: [1000.0] for name in version.schema.names})
    rejection = monitor.score(frame)
    assert isinstance(rejection, Rejection)
    before = sample(
        "model_service_failed_expectations_total",
        {
            "model": version.tag,
            "expectation": "expect_column_values_to_be_between",
            "column": "petal_length_cm",
        },
    )
    monitor.rejected(rejection)
    after = sample(
        "model_service_failed_expectations_total",
        {
            "model": version.tag,
            "expectation": "expect_column_values_to_be_between",
            "column": "petal_length_cm",
        },
    )
    assert after == before + 1


def test_the_label_free_estimate_is_counted_from_calibrated_probabilities(iris_run):
    version = load_model_version(iris_run.tag)
    assert version.calibrator is not None
    assert version.calibrator.heldout["rows"] == version.metrics["n_holdout"]
    monitor = Monitor(version, Scorer(version))
    monitor.start()
    names = ("model_service_expected_true_positives_total", "model_service_expected_actual_total")

    def counted() -> np.ndarray:
        return np.asarray(
            [
                sample(name, {"model": version.tag, "class": c})
                for name in names
                for c in monitor.scorer.classes
            ]
        )

    before = counted()
    frame = pd.read_csv(PROJECT_ROOT / "data" / "iris.csv")[version.schema.names]
    scored = [monitor.score(frame.iloc[[i]].reset_index(drop=True)) for i in range(100)]
    scored.append(monitor.score(frame.iloc[100:].reset_index(drop=True)))
    monitor.flush()
    probabilities = np.concatenate([s.probabilities for s in scored])
    expected = estimate(version.calibrator, probabilities)
    np.testing.assert_allclose(
        counted() - before, np.concatenate([expected.true_positives, expected.actual]), atol=1e-9
    )
    # Expected rows of each class add up to the rows answered.
    assert (counted() - before)[3:].sum() == pytest.approx(len(frame))


def test_a_version_exported_before_calibration_loads_and_serves_without_an_estimate(
    iris_run, tmp_path
):
    from service.model.store import find_model
    from service.model.version import CALIBRATION_FILE, read_model_version
    from service.observe.estimate import availability

    stored = find_model(iris_run.tag)
    folder = tmp_path / "old"
    shutil.copytree(stored.path, folder)
    (folder / CALIBRATION_FILE).unlink()
    metadata = dict(stored.info.metadata)
    metadata["files"] = {k: v for k, v in metadata["files"].items() if k != CALIBRATION_FILE}
    version = read_model_version(iris_run.tag, folder, metadata)
    assert version.calibrator is None
    monitor = Monitor(version, Scorer(version))
    monitor.start()
    frame = pd.read_csv(PROJECT_ROOT / "data" / "iris.csv")[version.schema.names]
    assert isinstance(monitor.score(frame), Scored)
    monitor.flush()
    assert monitor.estimate is None
    said = availability(version)
    assert said["available"] is False and "make pipeline" in said["why"]
