"""LightGBM and XGBoost inside the scikit-learn pipeline: forms of their estimators whose ONNX
graphs answer exactly as they do, and the onnxmltools converters registered with skl2onnx.

Both libraries are training dependencies (the pipeline group): the service runs their ONNX
graphs, so this module is imported only where a model is trained or converted.
"""

from __future__ import annotations

import re
from functools import cache

import lightgbm
import numpy as np
from xgboost import XGBClassifier


def float32_values(features) -> np.ndarray:
    """Return `features` as float32, the precision every served tree graph compares in."""
    return np.asarray(features, dtype=np.float32)


def float32_floor(threshold: float) -> float:
    """Return the largest float32 not above `threshold`: for every float32 x, x <= threshold
    exactly when x <= the result."""
    with np.errstate(over="ignore"):  # beyond float32's range: inf, then its largest value
        rounded = np.float32(threshold)
    # Compared in float64: numpy would compare a float32 with a Python float in float32.
    if float(rounded) > threshold:
        rounded = np.nextafter(rounded, np.float32(-np.inf))
    return float(rounded)


_TREE_LINE = re.compile(r"^(decision_type|threshold)=(.*)$")


def float32_thresholds(model: str) -> str:
    """Return a LightGBM model text whose numeric split thresholds are float32 floors.

    Categorical splits (bit 0 of decision_type) keep their threshold: it indexes a category set.
    The text's tree_sizes line (byte counts that let LightGBM parse trees in parallel) no longer
    holds and is left out; LightGBM then reads the trees one after another.
    """
    lines = [line for line in model.split("\n") if not line.startswith("tree_sizes=")]
    found = {"threshold": [], "decision_type": []}
    for position, line in enumerate(lines):
        match = _TREE_LINE.match(line)
        if match is not None:
            found[match.group(1)].append(position)
    for at, decision_at in zip(found["threshold"], found["decision_type"], strict=True):
        kinds = [int(v) for v in lines[decision_at].partition("=")[2].split()]
        values = lines[at].partition("=")[2].split()
        lines[at] = "threshold=" + " ".join(
            value if kind & 1 else repr(float32_floor(float(value)))
            for kind, value in zip(kinds, values, strict=True)
        )
    return "\n".join(lines)


class _Float32Splits:
    """LightGBM, fitted and asked in float32, with thresholds an ONNX graph holds exactly.

    LightGBM splits in float64 while an ONNX tree ensemble compares float32 inputs with float32
    thresholds. On a column whose values float32 cannot tell apart (epoch seconds: float32 steps
    by 128 there), rounding a threshold moved rows across it: a table with such a column flipped
    2 labels in 5,000 and moved a probability by up to 0.40, and multiclass tables moved
    probabilities by 0.01 to 0.16. Fitting on float32 values keeps every threshold between two
    float32 values, and lowering each to the float32 below it changes no split of a float32 input,
    so the graph answers as the booster does. scikit-learn's trees and XGBoost fit in float32
    already.
    """

    def fit(self, X, y, **kwargs):  # noqa: N803 - scikit-learn's name
        super().fit(float32_values(X), y, **kwargs)
        exact = float32_thresholds(self._Booster.model_to_string())
        self._Booster = lightgbm.Booster(model_str=exact)
        return self

    def predict(self, X, *args, **kwargs):  # noqa: N803
        return super().predict(float32_values(X), *args, **kwargs)


class Float32LGBMClassifier(_Float32Splits, lightgbm.LGBMClassifier):
    """LGBMClassifier whose ONNX graph answers exactly as it does (see _Float32Splits)."""

    def predict_proba(self, X, *args, **kwargs):  # noqa: N803
        return super().predict_proba(float32_values(X), *args, **kwargs)


class Float32LGBMRegressor(_Float32Splits, lightgbm.LGBMRegressor):
    """LGBMRegressor whose ONNX graph answers exactly as it does (see _Float32Splits)."""


class EncodedXGBClassifier(XGBClassifier):
    """XGBClassifier that takes any labels, as scikit-learn's classifiers do.

    XGBoost 3.2 refuses labels that are not 0..k-1 (strings, or integers with gaps). This fits
    on the codes of the sorted labels and answers the labels themselves in `classes_`, which
    onnxmltools' converter writes into the graph, so the ONNX labels are the class names too.
    """

    def fit(self, X, y, **kwargs):  # noqa: N803 - scikit-learn's name
        names, codes = np.unique(np.asarray(y), return_inverse=True)
        self.__dict__.pop("class_names_", None)
        super().fit(X, codes, **kwargs)
        self.class_names_ = names
        return self

    @property
    def classes_(self) -> np.ndarray:
        # XGBoost reads classes_ inside fit, before the names are set: its codes then.
        return self.__dict__.get("class_names_", np.arange(self.n_classes_))


@cache
def register_converters() -> None:
    """Teach skl2onnx the LightGBM and XGBoost estimators, once per process."""
    from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
    from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )
    from xgboost import XGBRegressor

    classifier_options = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    classifier = (calculate_linear_classifier_output_shapes, classifier_options)
    regressor = (calculate_linear_regressor_output_shapes, None)
    # The library's own LightGBM classes convert too, for a pipeline a notebook composes with
    # them; the export's parity check then judges their graph as any other.
    for cls, alias, (shapes, options), converter in (
        (Float32LGBMClassifier, "LightGbmLGBMClassifier", classifier, convert_lightgbm),
        (Float32LGBMRegressor, "LightGbmLGBMRegressor", regressor, convert_lightgbm),
        (lightgbm.LGBMClassifier, "LightGbmLGBMClassifierAsShipped", classifier, convert_lightgbm),
        (lightgbm.LGBMRegressor, "LightGbmLGBMRegressorAsShipped", regressor, convert_lightgbm),
        (EncodedXGBClassifier, "XGBoostXGBClassifier", classifier, convert_xgboost),
        (XGBRegressor, "XGBoostXGBRegressor", regressor, convert_xgboost),
    ):
        update_registered_converter(cls, alias, shapes, converter, options=options)
