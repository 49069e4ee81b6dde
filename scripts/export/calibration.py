"""The calibrator of the label-free performance estimate, fitted on the held-out split at export.

One isotonic regression per class (one-vs-rest; only the positive class of a binary model), on
the probabilities the served predictor gives the held-out rows, so the estimate calibrates what
the service answers (ONNX or skops). Its breakpoints are what the version stores.
"""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression

from service.model.calibration import Calibrator
from service.observe.estimate import estimate


def fit_isotonic(scores: np.ndarray, hits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the breakpoints of an isotonic regression of `hits` (0/1) on `scores`."""
    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, hits)
    return model.X_thresholds_.astype(np.float64), model.y_thresholds_.astype(np.float64)


def fit_calibrator(truth: np.ndarray, probabilities: np.ndarray, classes: list) -> Calibrator:
    """Return the calibrator of `probabilities` (rows x classes) against the true labels."""
    names = [str(label) for label in classes]
    truth = np.asarray([str(label) for label in truth], dtype=object)
    raw = np.asarray(probabilities, dtype=np.float64)
    columns = [1] if len(names) == 2 else range(len(names))
    pairs = [fit_isotonic(raw[:, c], (truth == names[c]).astype(np.float64)) for c in columns]
    calibrator = Calibrator(names, [x for x, _ in pairs], [y for _, y in pairs], {})
    winners = raw.argmax(axis=1)
    heldout = {
        "rows": len(truth),
        "accuracy": float(np.mean(truth == np.asarray(names, dtype=object)[winners])),
        "estimated_accuracy": estimate(calibrator, raw).metrics()["accuracy"],
    }
    return Calibrator(names, calibrator.x, calibrator.y, heldout)
