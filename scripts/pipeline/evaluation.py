"""Classification metrics on the held-out split, and the quality gate that guards export."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
)

from service.errors import UserError

GATES = {"min_accuracy": "accuracy", "min_f1_macro": "f1_macro", "min_roc_auc": "roc_auc"}


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


def quality_gate(metrics: dict, thresholds: dict[str, float]) -> list[str]:
    """Return one sentence per metric below its threshold; an empty list means the gate passed."""
    failures = []
    for parameter, threshold in thresholds.items():
        name = GATES[parameter]
        value = metrics.get(name)
        if value is None and threshold > 0:
            failures.append(f"{name} could not be computed on the held-out split ({parameter})")
        elif value is not None and value < threshold:
            failures.append(f"{name} {value:.4f} is below {parameter}={threshold}")
    return failures


def enforce_quality_gate(metrics: dict, thresholds: dict[str, float]) -> None:
    """Raise UserError naming each metric below its threshold."""
    failures = quality_gate(metrics, thresholds)
    if failures:
        raise UserError(
            "quality gate failed: " + "; ".join(failures) + ". Nothing will be exported."
        )
