"""LightGBM and XGBoost inside the scikit-learn pipeline: a label-encoding XGBoost classifier,
and the onnxmltools converters registered with skl2onnx so the pipeline converts as one.

Both libraries are training dependencies (the pipeline group): the service runs their ONNX
graphs, so this module is imported only where a model is trained or converted.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from xgboost import XGBClassifier


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
    """Teach skl2onnx the four booster estimators, once per process."""
    from lightgbm import LGBMClassifier, LGBMRegressor
    from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
    from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )
    from xgboost import XGBRegressor

    classifier_options = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    for cls, alias, shapes, converter, options in (
        (
            LGBMClassifier,
            "LightGbmLGBMClassifier",
            calculate_linear_classifier_output_shapes,
            convert_lightgbm,
            classifier_options,
        ),
        (
            LGBMRegressor,
            "LightGbmLGBMRegressor",
            calculate_linear_regressor_output_shapes,
            convert_lightgbm,
            None,
        ),
        (
            EncodedXGBClassifier,
            "XGBoostXGBClassifier",
            calculate_linear_classifier_output_shapes,
            convert_xgboost,
            classifier_options,
        ),
        (
            XGBRegressor,
            "XGBoostXGBRegressor",
            calculate_linear_regressor_output_shapes,
            convert_xgboost,
            None,
        ),
    ):
        update_registered_converter(cls, alias, shapes, converter, options=options)
