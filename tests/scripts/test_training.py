import numpy as np
import pytest
from support.datasets import mixed_frame

from scripts.data import infer_schema, split_target
from scripts.onnx_export import export_onnx
from scripts.training import ESTIMATORS, build_pipeline, holdout_split
from service.errors import PipelineError
from service.features import model_inputs
from service.predictor import PipelinePredictor


def _fit(estimator: str, seed: int = 0):
    features, labels = split_target(mixed_frame(300, seed=seed), "churned")
    schema = infer_schema(features, labels)
    train_x, test_x, train_y, _ = holdout_split(features, labels, 0.25, 0)
    params = {"max_iter": 50} if estimator == "hist_gradient_boosting" else {}
    pipeline = build_pipeline(schema, estimator, params, random_state=0)
    pipeline.fit(model_inputs(train_x, schema), train_y)
    return pipeline, schema, test_x


@pytest.mark.parametrize("estimator", sorted(ESTIMATORS))
def test_every_estimator_fits_gaps_and_categories_and_converts_to_onnx(estimator):
    pipeline, schema, test_x = _fit(estimator)
    report = export_onnx(pipeline, schema, test_x)["report"]
    assert report["converted"], report
    assert report["parity"]["labels_differing"] == 0, report
    assert report["parity"]["passed"], report


def test_fixed_random_state_gives_identical_models():
    first, schema, test_x = _fit("random_forest")
    second, _, _ = _fit("random_forest")
    a = PipelinePredictor(first, schema).predict(test_x)[1]
    b = PipelinePredictor(second, schema).predict(test_x)[1]
    np.testing.assert_array_equal(a, b)


def test_unseen_category_does_not_break_prediction():
    pipeline, schema, test_x = _fit("random_forest")
    labels, probabilities = PipelinePredictor(pipeline, schema).predict(test_x.assign(city="mars"))
    assert len(labels) == len(test_x) and np.allclose(probabilities.sum(axis=1), 1)


def test_unknown_estimator_and_bad_hyperparameters_are_named():
    features, labels = split_target(mixed_frame(50), "churned")
    schema = infer_schema(features, labels)
    with pytest.raises(PipelineError, match="unknown estimator 'svm'; choose one of"):
        build_pipeline(schema, "svm", {}, 0)
    with pytest.raises(PipelineError, match="do not fit random_forest"):
        build_pipeline(schema, "random_forest", {"n_trees": 3}, 0)


def test_onnx_inputs_follow_columns_whose_names_skl2onnx_renames():
    pipeline, schema, test_x = _fit("random_forest")
    assert "income (usd)" in schema.names
    report = export_onnx(pipeline, schema, test_x)["report"]
    assert report["parity"]["passed"], report
