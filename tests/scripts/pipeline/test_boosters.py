import lightgbm
import numpy as np
import pytest
import skops.io
from hypothesis import given
from hypothesis import strategies as st
from support.datasets import mixed_frame, mixed_multiclass_frame

from scripts.export.onnx_graph import export_onnx
from scripts.pipeline.boosters import (
    EncodedXGBClassifier,
    Float32LGBMClassifier,
    float32_floor,
    float32_thresholds,
)
from scripts.pipeline.data import infer_schema, split_target
from scripts.pipeline.training import (
    SKOPS_TRUSTED_TYPES,
    build_pipeline,
    holdout_split,
    trusted_skops_types,
)
from scripts.tools.bench.booster_parity import epoch_seconds_table
from service.errors import UserError
from service.scoring.features import model_inputs
from service.scoring.predictor import PipelinePredictor

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@given(threshold=finite, value=st.floats(allow_nan=False, width=32))
def test_a_float32_floor_splits_every_float32_value_as_the_float64_threshold_does(threshold, value):
    floor = float32_floor(threshold)
    assert floor == float(np.float32(floor))  # a float32 the graph holds exactly
    assert (value <= threshold) == (value <= floor)


def test_only_numeric_thresholds_are_lowered_and_tree_sizes_dropped():
    model = "\n".join(
        [
            "tree_sizes=120 98",
            "Tree=0",
            "threshold=0.10000000000000001 3 1700000100.5",
            "decision_type=2 1 10",
            "left_child=1 -1",
        ]
    )
    lines = float32_thresholds(model).split("\n")
    assert lines[0] == "Tree=0" and lines[3] == "left_child=1 -1"
    first, category_set, seconds = (float(v) for v in lines[1].removeprefix("threshold=").split())
    assert first == float(np.float32(first)) and first <= 0.1
    assert category_set == 3.0  # bit 0 of decision_type 1: a category set's index, untouched
    assert seconds == 1700000000.0  # float32 steps by 128 there; 1700000128 would be above it


def _split(task: str):
    frame = epoch_seconds_table(6000, seed=1, task=task)
    features, labels = split_target(frame, "y")
    kind = "regression" if task == "regression" else "classification"
    schema = infer_schema(features, labels, kind)
    train_x, test_x, train_y, _ = holdout_split(features, labels, 0.25, 0, kind)
    return schema, train_x, train_y, test_x


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_lightgbm_as_the_project_builds_it_answers_as_its_graph_on_epoch_seconds(task):
    schema, train_x, train_y, test_x = _split(task)
    pipeline = build_pipeline(schema, "lightgbm", {}, 0)
    pipeline.fit(model_inputs(train_x, schema), train_y)
    parity = export_onnx(pipeline, schema, test_x)["report"]["parity"]
    assert parity["passed"], parity
    if task == "regression":
        assert parity["max_relative_difference"] <= 1e-5
    else:
        assert parity["labels_differing"] == 0 and parity["max_probability_difference"] < 1e-6


def test_lightgbm_as_the_library_ships_it_misses_parity_on_the_same_rows_and_is_not_served():
    schema, train_x, train_y, test_x = _split("multiclass")
    pipeline = build_pipeline(schema, "lightgbm", {}, 0)
    shipped = lightgbm.LGBMClassifier(**pipeline.named_steps["model"].get_params())
    pipeline.steps[-1] = ("model", shipped)
    pipeline.fit(model_inputs(train_x, schema), train_y)
    parity = export_onnx(pipeline, schema, test_x)["report"]["parity"]
    assert not parity["passed"] and parity["max_probability_difference"] > 0.01, parity


def test_float32_splits_leave_the_fitted_model_answering_as_before_on_float32_rows():
    schema, train_x, train_y, test_x = _split("binary")
    inputs = model_inputs(train_x, schema)
    project = build_pipeline(schema, "lightgbm", {}, 0).fit(inputs, train_y)
    booster = project.named_steps["model"]
    assert isinstance(booster, Float32LGBMClassifier)
    rows = project.named_steps["preprocess"].transform(model_inputs(test_x, schema))
    # The same trees with the float64 thresholds LightGBM chose, asked with float32 values.
    raw = lightgbm.LGBMClassifier(**booster.get_params())
    raw.fit(inputs.pipe(project.named_steps["preprocess"].transform).astype(np.float32), train_y)
    np.testing.assert_allclose(
        booster.predict_proba(rows), raw.predict_proba(rows.astype(np.float32)), atol=1e-12
    )


def test_xgboost_answers_string_labels_by_name_and_its_graph_too():
    frame = mixed_multiclass_frame(300, seed=3)
    features, labels = split_target(frame, "churned")
    schema = infer_schema(features, labels, "classification")
    pipeline = build_pipeline(schema, "xgboost", {}, 0).fit(model_inputs(features, schema), labels)
    assert isinstance(pipeline.named_steps["model"], EncodedXGBClassifier)
    assert list(pipeline.classes_) == ["asks", "leaves", "stays"]
    predicted, _ = PipelinePredictor(pipeline, schema).predict(features)
    assert set(predicted) <= {"asks", "leaves", "stays"}
    report = export_onnx(pipeline, schema, features)["report"]
    assert report["parity"]["passed"] and report["parity"]["labels_differing"] == 0, report


@pytest.mark.parametrize("estimator", ["lightgbm", "xgboost"])
def test_a_saved_booster_pipeline_loads_with_only_the_types_named_for_it(estimator, tmp_path):
    frame = mixed_frame(200)
    features, labels = split_target(frame, "churned")
    schema = infer_schema(features, labels, "classification")
    pipeline = build_pipeline(schema, estimator, {}, 0).fit(model_inputs(features, schema), labels)
    path = tmp_path / "pipeline.skops"
    skops.io.dump(pipeline, path)
    trusted = trusted_skops_types(path)
    assert set(trusted) <= SKOPS_TRUSTED_TYPES and any(estimator in t for t in trusted)
    loaded = skops.io.load(path, trusted=trusted)
    np.testing.assert_array_equal(
        loaded.predict_proba(model_inputs(features, schema)),
        pipeline.predict_proba(model_inputs(features, schema)),
    )


def test_a_pipeline_holding_a_type_nobody_trusted_is_refused_by_name(tmp_path):
    features, labels = split_target(mixed_frame(100), "churned")
    schema = infer_schema(features, labels, "classification")
    pipeline = build_pipeline(schema, "random_forest", {"n_estimators": 3}, 0)
    pipeline.steps.insert(0, ("note", _Unreviewed()))
    path = tmp_path / "pipeline.skops"
    skops.io.dump(pipeline, path)
    with pytest.raises(UserError, match=r"_Unreviewed.*skops_types in scripts/pipeline/training"):
        trusted_skops_types(path)


class _Unreviewed:
    """A step of a type no estimator names."""

    def fit(self, X, y=None):  # noqa: N803
        return self

    def transform(self, X):  # noqa: N803
        return X
