"""service/model/calibration.py: stored breakpoints answer as scikit-learn's isotonic regression,
round-trip through JSON, and a damaged file is refused by name."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression

from scripts.export.calibration import fit_calibrator
from service.model.calibration import CalibrationError, Calibrator


def noisy_probabilities(rows: int, classes: int, seed: int = 0):
    """Return overconfident probabilities and labels drawn from softer ones."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, (rows, classes))
    soft = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    truth = np.asarray([rng.choice(classes, p=p) for p in soft])
    sharp = np.exp(3 * logits) / np.exp(3 * logits).sum(axis=1, keepdims=True)
    return truth, sharp


def test_breakpoints_answer_as_sklearn_isotonic_regression():
    truth, probabilities = noisy_probabilities(3000, 3)
    calibrator = fit_calibrator(truth, probabilities, [0, 1, 2])
    fresh = noisy_probabilities(500, 3, seed=1)[1]
    # Outside the held-out range too: both clip to the end values.
    fresh[0] = [0.0, 0.0, 1.0]
    raw = np.column_stack(
        [
            IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip")
            .fit(probabilities[:, c], truth == c)
            .predict(fresh[:, c])
            for c in range(3)
        ]
    )
    expected = raw / raw.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(calibrator.calibrate(fresh), expected, atol=1e-12)


def test_a_binary_model_stores_one_calibrator_and_rows_add_up_to_one():
    truth, probabilities = noisy_probabilities(2000, 2)
    calibrator = fit_calibrator(np.where(truth == 1, "yes", "no"), probabilities, ["no", "yes"])
    assert len(calibrator.x) == 1
    calibrated = calibrator.calibrate(probabilities)
    np.testing.assert_allclose(calibrated.sum(axis=1), 1.0)
    # Overconfident probabilities come back less sure.
    assert np.abs(calibrated[:, 1] - 0.5).mean() < np.abs(probabilities[:, 1] - 0.5).mean()


def test_the_held_out_estimate_matches_held_out_accuracy():
    truth, probabilities = noisy_probabilities(3000, 3)
    heldout = fit_calibrator(truth, probabilities, [0, 1, 2]).heldout
    assert heldout["rows"] == 3000
    assert heldout["accuracy"] == pytest.approx(np.mean(probabilities.argmax(1) == truth))
    assert heldout["estimated_accuracy"] == pytest.approx(heldout["accuracy"], abs=0.01)


def test_json_round_trip_gives_the_same_calibration():
    truth, probabilities = noisy_probabilities(1000, 3)
    calibrator = fit_calibrator(truth, probabilities, ["a", "b", "c"])
    stored = json.loads(json.dumps(calibrator.to_dict()))
    again = Calibrator.from_dict(stored, ["a", "b", "c"], where="test")
    np.testing.assert_array_equal(
        again.calibrate(probabilities), calibrator.calibrate(probabilities)
    )
    assert again.heldout == calibrator.heldout


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: d.update(format="pickle"), "format"),
        (lambda d: d.update(classes=["a", "b", "z"]), "names classes"),
        (lambda d: d["breakpoints"].pop(), "needs 3 breakpoint"),
        (lambda d: d["breakpoints"][1].update(x=[0.5, 0.1]), "list 1"),
        (lambda d: d["breakpoints"][0].update(y=[2.0] * len(d["breakpoints"][0]["x"])), "[0, 1]"),
        (lambda d: d["breakpoints"][2].update(x="many"), "numeric"),
    ],
)
def test_a_damaged_calibrator_is_refused_by_name(damage, message):
    truth, probabilities = noisy_probabilities(500, 3)
    stored = fit_calibrator(truth, probabilities, ["a", "b", "c"]).to_dict()
    damage(stored)
    with pytest.raises(CalibrationError, match="calibrator at/calibration.json") as raised:
        Calibrator.from_dict(stored, ["a", "b", "c"], where="at/calibration.json")
    assert message in str(raised.value)
    assert "make pipeline" in str(raised.value)
