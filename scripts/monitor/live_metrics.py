"""What the model did live: metrics where ground truth came back, the prediction mix, rejections.

Each is set against what the model entry recorded on the held-out split (metrics.json), so a
fall shows as a gap to the held-out line rather than as a number to remember.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from scripts.monitor.log_reader import as_text
from service.model.version import HELD_OUT_METRICS

# ROC AUC needs every class's probability ranked against the labels of a whole window; the
# live figures are counted from labels alone.
LIVE_METRICS = tuple(name for name in HELD_OUT_METRICS if name != "roc_auc")
# Bucket widths to choose from for "over time", and how many buckets a chart should hold.
BUCKETS = ("1min", "5min", "15min", "1h", "6h", "1D", "7D")
TARGET_BUCKETS = 24
TABLE_LEVEL = "(table)"


def classification_scores(labels: pd.Series, predictions: pd.Series) -> dict[str, float | None]:
    """Return accuracy and macro precision, recall and F1 of predictions against labels.

    Macro over the classes seen in either, as scikit-learn does by default: a class that no
    row of a small bucket holds does not count as a zero.
    """
    if labels.empty:
        return {name: None for name in LIVE_METRICS}
    truth, predicted = as_text(labels), as_text(predictions)
    precision, recall, f1, _ = precision_recall_fscore_support(
        truth, predicted, average="macro", zero_division=0
    )
    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "precision_macro": float(precision),
        "recall_macro": float(recall),
        "f1_macro": float(f1),
    }


# A regressor's live figures: errors need only each row's label, so all of them are live.
LIVE_REGRESSION_METRICS = ("mae", "rmse", "r2", "mean_error")


def regression_scores(labels: pd.Series, predictions: pd.Series) -> dict[str, float | None]:
    """Return MAE, RMSE, R² (None below two rows) and the mean error (predicted - true)."""
    if labels.empty:
        return {name: None for name in LIVE_REGRESSION_METRICS}
    truth = pd.to_numeric(labels).to_numpy(dtype=np.float64)
    errors = pd.to_numeric(predictions).to_numpy(dtype=np.float64) - truth
    spread = float(np.sum((truth - truth.mean()) ** 2))
    return {
        "mae": float(np.abs(errors).mean()),
        "rmse": float(np.sqrt(np.mean(errors**2))),
        "r2": 1 - float(np.sum(errors**2)) / spread if len(truth) > 1 and spread > 0 else None,
        "mean_error": float(errors.mean()),
    }


def live_scores(
    labels: pd.Series, predictions: pd.Series, task: str = "classification"
) -> dict[str, float | None]:
    """Return the live metrics of a task for these labels and predictions."""
    if task == "regression":
        return regression_scores(labels, predictions)
    return classification_scores(labels, predictions)


def live_names(task: str) -> tuple[str, ...]:
    return LIVE_REGRESSION_METRICS if task == "regression" else LIVE_METRICS


def live_summary(predictions: pd.DataFrame, heldout: dict, task: str = "classification") -> dict:
    """Return the live metrics over every labelled row, with the held-out ones beside them."""
    labelled = predictions[predictions["label"].notna()]
    return {
        "labelled": len(labelled),
        **live_scores(labelled["label"], labelled["prediction"], task),
        "heldout": {name: heldout.get(name) for name in live_names(task)},
    }


def time_bucket(times: pd.Series) -> str:
    """Return the narrowest bucket width that splits the span of `times` into few enough."""
    span = times.max() - times.min() if len(times) else pd.Timedelta(0)
    for width in BUCKETS:
        if span / pd.Timedelta(width) <= TARGET_BUCKETS:
            return width
    return BUCKETS[-1]


def metrics_over_time(
    predictions: pd.DataFrame, bucket: str, task: str = "classification"
) -> pd.DataFrame:
    """Return the live metrics and the labelled row count per time bucket that has labels."""
    labelled = predictions[predictions["label"].notna()]
    rows = [
        {
            "time": start,
            "labelled": len(group),
            **live_scores(group["label"], group["prediction"], task),
        }
        for start, group in labelled.groupby(labelled["time"].dt.floor(bucket))
    ]
    columns = ["time", "labelled", *live_names(task)]
    return pd.DataFrame(rows, columns=columns).set_index("time")


def residuals(predictions: pd.DataFrame) -> pd.DataFrame:
    """Return a regressor's labelled rows: time, prediction, label and residual (predicted -
    true)."""
    labelled = predictions[predictions["label"].notna()]
    predicted = pd.to_numeric(labelled["prediction"])
    truth = pd.to_numeric(labelled["label"])
    return pd.DataFrame(
        {
            "time": labelled["time"],
            "prediction": predicted,
            "label": truth,
            "residual": predicted - truth,
        }
    ).reset_index(drop=True)


def prediction_mix(predictions: pd.DataFrame, classes: list, heldout: dict) -> pd.DataFrame:
    """Return each class's share of live predictions beside its share of the held-out split.

    The model entry records the held-out split (metrics.json: per-class support, and the
    confusion matrix whose columns are what the model predicted there); the split is stratified,
    so its class shares are the training ones to within a row per class.
    """
    names = [str(label) for label in classes]
    live = pd.Series(as_text(predictions["prediction"])).value_counts(normalize=True)
    per_class = heldout.get("per_class", {})
    support = pd.Series(
        {name: per_class.get(name, {}).get("support") for name in names}, dtype="float64"
    )
    matrix = heldout.get("confusion_matrix", {})
    predicted = pd.Series(dtype="float64")
    if matrix.get("matrix"):
        predicted = pd.DataFrame(matrix["matrix"], columns=matrix["labels"]).sum()
    frame = pd.DataFrame(
        {
            "live predictions": live.reindex(names, fill_value=0.0),
            "held-out labels": support / support.sum(),
            "held-out predictions": predicted / predicted.sum() if len(predicted) else None,
        },
        index=names,
    )
    frame.index.name = "class"
    return frame.astype("float64")


def rejection_reasons(rejections: pd.DataFrame) -> pd.DataFrame:
    """Return one row per failed rule of each rejected request: time, rule, column.

    A request rejected before validation (malformed JSON, a wrong field) has no failures; its
    `error` stands as the rule.
    """
    rows = []
    for record in rejections.itertuples(index=False):
        error = record.error or "rejected"
        for failure in record.failures or [{}]:
            rows.append(
                {
                    "time": record.time,
                    "expectation": failure.get("expectation") or error,
                    "column": failure.get("column") or TABLE_LEVEL,
                }
            )
    return pd.DataFrame(rows, columns=["time", "expectation", "column"])


def rejections_over_time(rejections: pd.DataFrame, bucket: str) -> pd.DataFrame:
    """Return failed rules per time bucket, one column per `expectation · column`."""
    reasons = rejection_reasons(rejections)
    if reasons.empty:
        return pd.DataFrame()
    reasons["rule"] = reasons["expectation"] + " · " + reasons["column"]
    return reasons.groupby([reasons["time"].dt.floor(bucket), "rule"]).size().unstack(fill_value=0)
