"""service/observe/estimate.py: the expected confusion sums and metrics, the per-worker counter,
and the estimate following the true accuracy when inputs shift (iris, churn, penguins-like).

The shift test prints its table with `-s`:
    .venv/bin/pytest tests/service/observe/test_estimate.py -s -k follows
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from scripts.export.calibration import fit_calibrator
from scripts.pipeline.data import infer_schema, split_target
from scripts.pipeline.training import build_pipeline
from service.model.calibration import Calibrator
from service.observe.estimate import EstimateCounter, ExpectedCounts, estimate
from service.scoring.features import model_inputs
from tests.support.shifted_tables import cases, shifted

# What the shift test reaches on 2,000-row windows, measured: accuracy at most 0.024 off
# (penguins-like, everything shifted), 0.018 churn, 0.011 iris; macro F1 at most 0.034
# (penguins-like), 0.018 churn, 0.011 iris.
TOLERANCE = 0.03
F1_TOLERANCE = 0.04


def identity(classes: list[str]) -> Calibrator:
    """Return a calibrator that leaves probabilities as they are."""
    pairs = 1 if len(classes) == 2 else len(classes)
    line = np.asarray([0.0, 1.0])
    return Calibrator(classes, [line] * pairs, [line] * pairs, {})


def test_expected_counts_and_metrics_by_hand():
    calibrated = np.asarray([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8]])
    winners = np.asarray([0, 0, 1, 1])
    counts = ExpectedCounts.of(calibrated, winners)
    np.testing.assert_allclose(counts.true_positives, [1.5, 1.5])
    np.testing.assert_allclose(counts.predicted, [2, 2])
    np.testing.assert_allclose(counts.actual, [2.0, 2.0])
    metrics = counts.metrics()
    assert metrics["accuracy"] == pytest.approx(0.75)
    assert metrics["precision_macro"] == pytest.approx(0.75)
    assert metrics["recall_macro"] == pytest.approx(0.75)
    assert metrics["f1_macro"] == pytest.approx(0.75)


def test_a_class_never_predicted_counts_in_recall_not_in_precision():
    calibrated = np.asarray([[0.5, 0.3, 0.2], [0.6, 0.1, 0.3]])
    counts = ExpectedCounts.of(calibrated, np.asarray([0, 0]))
    metrics = counts.metrics()
    assert metrics["precision_macro"] == pytest.approx(0.55)  # class 0 only
    assert metrics["recall_macro"] == pytest.approx(np.mean([1.1 / 1.1, 0, 0]))
    assert metrics["f1_macro"] == pytest.approx(np.mean([2 * 1.1 / 3.1, 0, 0]))


def test_no_rows_no_estimate():
    assert ExpectedCounts.zeros(3).metrics() == {
        "accuracy": None,
        "precision_macro": None,
        "recall_macro": None,
        "f1_macro": None,
    }


def test_the_predicted_class_is_the_models_own_not_the_calibrated_argmax():
    # A calibrator that swaps which class looks likelier: the answer stays the model's.
    flip = Calibrator(["a", "b"], [np.asarray([0.0, 1.0])], [np.asarray([0.6, 0.9])], {})
    counts = estimate(flip, np.asarray([[0.9, 0.1]]))
    np.testing.assert_allclose(counts.predicted, [1, 0])
    assert counts.metrics()["accuracy"] == pytest.approx(1 - 0.63)


def test_one_row_requests_buffered_give_what_one_batch_gives():
    rng = np.random.default_rng(3)
    probabilities = rng.dirichlet([1, 1, 1], 2500)
    calibrator = fit_calibrator(rng.integers(0, 3, 2500), probabilities, [0, 1, 2])
    counter = EstimateCounter(calibrator)
    for row in probabilities[:2100]:  # over two buffer fills
        counter.count(row[None, :])
    counter.count(probabilities[2100:])
    whole = estimate(calibrator, probabilities)
    counts = counter.counts
    np.testing.assert_allclose(counts.true_positives, whole.true_positives)
    np.testing.assert_allclose(counts.actual, whole.actual)
    np.testing.assert_allclose(counts.predicted, whole.predicted)


def fitted(case, rng):
    """Return the case's pipeline trained on 2,000 fresh rows, calibrated on 2,000 more."""
    features, labels = split_target(case.draw(2000, rng), case.target)
    schema = infer_schema(features, labels)
    pipeline = build_pipeline(schema, "random_forest", None, 0)
    pipeline.fit(model_inputs(features, schema), labels)
    held_features, held_labels = split_target(case.draw(2000, rng), case.target)
    probabilities = pipeline.predict_proba(model_inputs(held_features, schema))
    calibrator = fit_calibrator(held_labels.to_numpy(), probabilities, list(pipeline.classes_))
    return schema, pipeline, calibrator


def true_and_estimated(schema, pipeline, calibrator, window: pd.DataFrame, target: str):
    """Return the window's true and estimated accuracy, and its true and estimated macro F1."""
    features, labels = split_target(window, target)
    probabilities = pipeline.predict_proba(model_inputs(features, schema))
    answers = np.asarray(pipeline.classes_).astype(str)[probabilities.argmax(axis=1)]
    truth = labels.astype(str).to_numpy()
    estimated = estimate(calibrator, probabilities).metrics()
    return (
        float(np.mean(answers == truth)),
        estimated["accuracy"],
        float(f1_score(truth, answers, average="macro")),
        estimated["f1_macro"],
    )


@pytest.mark.parametrize("case", cases(), ids=lambda case: case.name)
def test_the_estimate_follows_true_accuracy_when_inputs_shift(case):
    rng = np.random.default_rng(0)
    schema, pipeline, calibrator = fitted(case, rng)
    pool = case.draw(20_000, rng)
    found = []
    for share in (0.0, 0.5, 1.0):
        window = shifted(case, pool, share, 2000, rng)
        truth, estimated, f1, estimated_f1 = true_and_estimated(
            schema, pipeline, calibrator, window, case.target
        )
        found.append((share, truth, estimated))
        print(
            f"{case.name:14} shifted {share:4.0%}  accuracy true {truth:.3f} estimated "
            f"{estimated:.3f} error {estimated - truth:+.3f}  macro F1 true {f1:.3f} estimated "
            f"{estimated_f1:.3f} error {estimated_f1 - f1:+.3f}"
        )
        assert abs(estimated - truth) <= TOLERANCE, (case.name, share, truth, estimated)
        assert abs(estimated_f1 - f1) <= F1_TOLERANCE, (case.name, share, f1, estimated_f1)
    # The shift really costs accuracy, and the estimate falls with it.
    assert found[0][1] - found[-1][1] >= 0.04
    assert found[0][2] - found[-1][2] >= 0.02


def test_concept_drift_is_invisible_to_the_estimate():
    # The same inputs, but a third of the labels now mean something else: accuracy falls,
    # the probabilities (and so the estimate) do not move.
    case = cases()[0]
    rng = np.random.default_rng(1)
    schema, pipeline, calibrator = fitted(case, rng)
    window = case.draw(2000, rng)
    before = true_and_estimated(schema, pipeline, calibrator, window, case.target)[:2]
    relabelled = window.copy()
    changed = rng.random(len(window)) < 1 / 3
    relabelled.loc[changed, case.target] = relabelled.loc[changed, case.target].map(
        {"setosa": "versicolor", "versicolor": "virginica", "virginica": "setosa"}
    )
    after = true_and_estimated(schema, pipeline, calibrator, relabelled, case.target)[:2]
    assert after[0] < before[0] - 0.25
    assert after[1] == pytest.approx(before[1])
