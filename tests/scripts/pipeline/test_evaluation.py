import numpy as np
import pandas as pd
import pytest

from scripts.pipeline.evaluation import classification_metrics, enforce_quality_gate, quality_gate
from service.errors import UserError


def test_multiclass_metrics_are_exact_on_a_known_case():
    labels = pd.Series(["a", "a", "b", "c"])
    predicted = np.array(["a", "b", "b", "c"])
    probabilities = np.array([[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]])
    metrics = classification_metrics(labels, predicted, probabilities, ["a", "b", "c"])
    assert metrics["accuracy"] == 0.75
    assert metrics["per_class"]["a"] == {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2}
    assert metrics["roc_auc"] == pytest.approx(1.0)
    assert metrics["confusion_matrix"]["matrix"] == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]


def test_binary_roc_auc_uses_the_positive_class_column():
    labels = pd.Series([0, 0, 1, 1])
    probabilities = np.array([[0.9, 0.1], [0.4, 0.6], [0.7, 0.3], [0.2, 0.8]])
    metrics = classification_metrics(labels, np.array([0, 1, 0, 1]), probabilities, [0, 1])
    assert metrics["roc_auc"] == pytest.approx(0.75)


def test_gate_names_metric_value_and_threshold():
    failures = quality_gate(
        {"accuracy": 0.5, "f1_macro": 0.9}, {"min_accuracy": 0.8, "min_f1_macro": 0.8}
    )
    assert failures == ["accuracy 0.5000 is below min_accuracy=0.8"]
    with pytest.raises(
        UserError, match="quality gate failed: accuracy 0.5000 is below min_accuracy=0.8"
    ):
        enforce_quality_gate({"accuracy": 0.5}, {"min_accuracy": 0.8})


def test_gate_passes_at_the_threshold_and_skips_a_zero_auc_threshold():
    assert (
        quality_gate({"accuracy": 0.8, "roc_auc": None}, {"min_accuracy": 0.8, "min_roc_auc": 0})
        == []
    )
