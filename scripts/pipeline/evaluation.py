"""Metrics on the held-out split (a classifier's or a regressor's), and the quality gate that
guards export."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    mean_absolute_error,
    median_absolute_error,
    precision_recall_fscore_support,
    r2_score,
    roc_auc_score,
)

from service.errors import UserError

# Each gate parameter of 03_evaluate: the task it applies to, its metric, and whether the
# metric must reach it from above (a floor) or stay under it (a ceiling). `null` skips a gate.
GATES = {
    "min_accuracy": ("classification", "accuracy", "floor"),
    "min_f1_macro": ("classification", "f1_macro", "floor"),
    "min_roc_auc": ("classification", "roc_auc", "floor"),
    "min_r2": ("regression", "r2", "floor"),
    "max_rmse": ("regression", "rmse", "ceiling"),
    "max_mae": ("regression", "mae", "ceiling"),
}
# The error by decile of the true target: where in its range a regressor is worst.
ERROR_BINS = 10


def classification_metrics(
    labels: pd.Series, predicted: np.ndarray, probabilities: np.ndarray, classes: list
) -> dict:
    """Return accuracy, macro and per-class precision/recall/F1, ROC AUC, the confusion matrix."""
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=classes, zero_division=0
    )
    macro = precision_recall_fscore_support(
        labels, predicted, labels=classes, average="macro", zero_division=0
    )
    return {
        "accuracy": float(accuracy_score(labels, predicted)),
        "precision_macro": float(macro[0]),
        "recall_macro": float(macro[1]),
        "f1_macro": float(macro[2]),
        "roc_auc": roc_auc(labels, probabilities, classes),
        "per_class": {
            str(label): {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(classes)
        },
        "confusion_matrix": {
            "labels": [str(label) for label in classes],
            "matrix": confusion_matrix(labels, predicted, labels=classes).tolist(),
        },
        "n_holdout": len(labels),
    }


def roc_auc(labels: pd.Series, probabilities: np.ndarray, classes: list) -> float | None:
    """Return ROC AUC (one-vs-rest, macro, for multiclass), or None when a class is absent."""
    if labels.nunique() < len(classes):
        return None
    if len(classes) == 2:
        return float(roc_auc_score(labels == classes[1], probabilities[:, 1]))
    return float(
        roc_auc_score(labels, probabilities, multi_class="ovr", average="macro", labels=classes)
    )


def regression_metrics(truth: pd.Series, predicted: np.ndarray) -> dict:
    """Return MAE, RMSE, R², the median absolute error, and the errors by decile of the target."""
    truth = np.asarray(truth, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    errors = predicted - truth
    return {
        "mae": float(mean_absolute_error(truth, predicted)),
        "rmse": float(np.sqrt(np.mean(errors**2))),
        "r2": float(r2_score(truth, predicted)) if len(truth) > 1 else None,
        "median_absolute_error": float(median_absolute_error(truth, predicted)),
        "mean_error": float(errors.mean()),
        "error_by_decile": error_by_decile(truth, errors),
        "n_holdout": len(truth),
    }


def error_by_decile(truth: np.ndarray, errors: np.ndarray, bins: int = ERROR_BINS) -> list[dict]:
    """Return, per quantile bin of the true value, its range, rows, MAE, RMSE and mean error."""
    edges = np.unique(np.quantile(truth, np.linspace(0, 1, bins + 1)))
    found = np.clip(np.searchsorted(edges, truth, side="right") - 1, 0, max(len(edges) - 2, 0))
    table = []
    for index in range(max(len(edges) - 1, 1)):
        chosen = errors[found == index]
        if not len(chosen):
            continue
        table.append(
            {
                "from": float(edges[index]),
                "to": float(edges[min(index + 1, len(edges) - 1)]),
                "rows": int(len(chosen)),
                "mae": float(np.abs(chosen).mean()),
                "rmse": float(np.sqrt(np.mean(chosen**2))),
                "mean_error": float(chosen.mean()),
            }
        )
    return table


def quality_gate(
    metrics: dict, thresholds: dict[str, float | None], task: str = "classification"
) -> list[str]:
    """Return one sentence per metric on the wrong side of its threshold; an empty list means
    the gate passed. Gates of the other task, and those set to None, are skipped."""
    failures = []
    for parameter, threshold in thresholds.items():
        if parameter not in GATES:
            raise UserError(f"unknown quality gate {parameter}; known: {', '.join(GATES)}")
        gate_task, name, side = GATES[parameter]
        if gate_task != task or threshold is None:
            continue
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise UserError(f"{parameter} must be a number or null, not {threshold!r}")
        value = metrics.get(name)
        if value is None and side == "floor" and threshold <= 0:
            continue  # a floor of 0 asks for nothing: ROC AUC with a class absent from the split
        if value is None:
            failures.append(f"{name} could not be computed on the held-out split ({parameter})")
        elif side == "floor" and value < threshold:
            failures.append(f"{name} {value:.4f} is below {parameter}={threshold}")
        elif side == "ceiling" and value > threshold:
            failures.append(f"{name} {value:.4f} is above {parameter}={threshold}")
    return failures


def enforce_quality_gate(
    metrics: dict, thresholds: dict[str, float | None], task: str = "classification"
) -> None:
    """Raise UserError naming each metric on the wrong side of its threshold."""
    failures = quality_gate(metrics, thresholds, task)
    if failures:
        raise UserError(
            "quality gate failed: " + "; ".join(failures) + ". Nothing will be exported."
        )
