import ast
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from support.datasets import mixed_frame

from scripts.export.onnx_graph import export_onnx
from scripts.pipeline.data import infer_schema, split_target
from scripts.pipeline.params import PROJECT_ROOT, load_params
from scripts.pipeline.run import preflight
from scripts.pipeline.rundir import RunDir
from scripts.pipeline.training import (
    ESTIMATORS,
    build_pipeline,
    effective_hyperparameters,
    estimators_for,
    holdout_split,
    make_estimator,
    numeric_preprocessing,
    train_run,
)
from service.errors import UserError
from service.scoring.features import model_inputs
from service.scoring.predictor import PipelinePredictor


def _fit(estimator: str, seed: int = 0, task: str = "classification"):
    frame = mixed_frame(300, seed=seed)
    if task == "regression":
        # income as the target: a float with as many values as rows; churned is a feature.
        frame = frame.assign(churned=frame["churned"].map({0: "no", 1: "yes"}))
        features, labels = split_target(frame, "income (usd)")
    else:
        features, labels = split_target(frame, "churned")
    schema = infer_schema(features, labels, task)
    train_x, test_x, train_y, _ = holdout_split(features, labels, 0.25, 0, task)
    params = {"max_iter": 50} if estimator == "hist_gradient_boosting" else {}
    pipeline = build_pipeline(schema, estimator, params, random_state=0)
    pipeline.fit(model_inputs(train_x, schema), train_y)
    return pipeline, schema, test_x


@pytest.mark.parametrize("estimator", estimators_for("classification"))
def test_every_estimator_fits_gaps_and_categories_and_converts_to_onnx(estimator):
    pipeline, schema, test_x = _fit(estimator)
    report = export_onnx(pipeline, schema, test_x)["report"]
    assert report["converted"], report
    assert report["parity"]["labels_differing"] == 0, report
    assert report["parity"]["passed"], report


@pytest.mark.parametrize("estimator", estimators_for("regression"))
def test_every_regressor_fits_gaps_and_categories_and_converts_within_the_relative_tolerance(
    estimator,
):
    pipeline, schema, test_x = _fit(estimator, task="regression")
    assert type(pipeline.named_steps["model"]).__name__.endswith(("Regressor", "Ridge"))
    report = export_onnx(pipeline, schema, test_x)["report"]
    assert report["converted"], report
    parity = report["parity"]
    assert parity["passed"] and parity["max_relative_difference"] <= 1e-5, report


def test_a_graph_that_answers_another_quantity_is_not_served():
    # A poisson loss converts without a word into a graph that answers the log of the value.
    frame = mixed_frame(300).assign(churned=lambda f: f["churned"].astype(str))
    frame["income (usd)"] = frame["income (usd)"].abs()  # poisson takes no negative target
    features, labels = split_target(frame, "income (usd)")
    schema = infer_schema(features, labels, "regression")
    pipeline = build_pipeline(schema, "hist_gradient_boosting", {"loss": "poisson"}, 0)
    pipeline.fit(model_inputs(features, schema), labels)
    report = export_onnx(pipeline, schema, features)["report"]
    assert report["converted"] and not report["parity"]["passed"], report
    assert report["parity"]["max_relative_difference"] > 0.5


def test_an_estimator_without_a_form_for_the_task_names_those_that_have_one():
    with pytest.raises(
        UserError,
        match="'ridge' does not do classification; for "
        "classification choose one of random_forest, extra_trees, "
        "logistic_regression, hist_gradient_boosting",
    ):
        make_estimator("ridge", {}, 0, "classification")
    with pytest.raises(UserError, match="'logistic_regression' does not do regression.*ridge"):
        make_estimator("logistic_regression", {}, 0, "regression")
    assert make_estimator("random_forest", {}, 0, "regression").n_estimators == 100


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


def test_unknown_estimator_is_named_with_the_choices():
    features, labels = split_target(mixed_frame(50), "churned")
    schema = infer_schema(features, labels)
    with pytest.raises(UserError, match="unknown estimator 'svm'; choose one of random_forest"):
        build_pipeline(schema, "svm", {}, 0)


def test_each_estimator_gets_its_own_defaults():
    assert make_estimator("random_forest", {}, 0).n_estimators == 100
    assert make_estimator("extra_trees", None, 0).n_estimators == 100
    assert make_estimator("logistic_regression", {}, 0).max_iter == 1000
    hgb = make_estimator("hist_gradient_boosting", {}, 0)
    assert hgb.get_params() == type(hgb)(random_state=0).get_params()


def test_overrides_merge_over_the_defaults_without_changing_them():
    forest = make_estimator("random_forest", {"max_depth": 5}, 7)
    assert (forest.n_estimators, forest.max_depth, forest.random_state) == (100, 5, 7)
    assert make_estimator("random_forest", {"n_estimators": 10}, 0).n_estimators == 10
    assert effective_hyperparameters("logistic_regression", {"C": 0.5}) == {
        "max_iter": 1000,
        "C": 0.5,
    }
    assert ESTIMATORS["random_forest"].defaults == {"n_estimators": 100}


def test_override_the_estimator_does_not_take_names_it_and_the_keys_it_takes():
    with pytest.raises(UserError) as raised:
        make_estimator("logistic_regression", {"n_estimators": 100, "max_depth": 3}, 0)
    message = str(raised.value)
    assert message.startswith(
        "logistic_regression does not take hyperparameter(s) max_depth, n_estimators; it takes C, "
    )
    assert "max_iter" in message and "random_state" not in message
    assert '-p hyperparameters="{C: 0.5}"' in message


def test_random_state_inside_hyperparameters_points_at_its_own_parameter():
    with pytest.raises(UserError, match="pass -p random_state=N"):
        make_estimator("random_forest", {"random_state": 1}, 0)


def test_every_estimator_builds_from_the_params_yaml_defaults():
    params = load_params()
    assert params["hyperparameters"] == {}
    for task in ("classification", "regression"):
        for name in estimators_for(task):
            choice = ESTIMATORS[name]
            model = make_estimator(name, params["hyperparameters"], params["random_state"], task)
            assert isinstance(model, choice.cls(task)), name
            assert model.random_state == params["random_state"], name
            for key, value in choice.defaults_for(task).items():
                assert model.get_params()[key] == value, (name, key)


def test_runner_preflight_rejects_a_bad_override_before_any_notebook():
    params = {
        "data_path": str(PROJECT_ROOT / "data" / "iris.csv"),
        "target": "species",
        "estimator": "hist_gradient_boosting",
        "hyperparameters": {"n_estimators": 10},
        "random_state": 0,
        "task": "auto",
    }
    with pytest.raises(UserError, match="hist_gradient_boosting does not take .*n_estimators"):
        preflight(params)


@pytest.mark.parametrize(
    ("estimator", "steps"),
    [
        ("random_forest", ["impute"]),
        ("extra_trees", ["impute"]),
        ("logistic_regression", ["impute", "scale"]),
        ("hist_gradient_boosting", None),
    ],
)
def test_numeric_preprocessing_follows_the_estimator(estimator, steps):
    step = numeric_preprocessing(estimator)
    if steps is None:
        assert step == "passthrough"
    else:
        assert [name for name, _ in step.steps] == steps


def test_build_pipeline_composes_preprocessing_and_the_estimator():
    features, labels = split_target(mixed_frame(50), "churned")
    schema = infer_schema(features, labels)
    pipeline = build_pipeline(schema, "logistic_regression", {"C": 0.5}, 0)
    assert [name for name, _ in pipeline.steps] == ["preprocess", "model"]
    columns = {name: cols for name, _, cols in pipeline.named_steps["preprocess"].transformers}
    assert columns == {"numeric": ["age", "income (usd)"], "categorical": ["city", "plan"]}
    assert pipeline.named_steps["model"].C == 0.5


def test_build_pipeline_composes_the_steps_it_is_given():
    features, labels = split_target(mixed_frame(50), "churned")
    schema = infer_schema(features, labels)
    numeric, categorical = StandardScaler(), OneHotEncoder(drop="first")
    pipeline = build_pipeline(
        schema, "random_forest", {}, 0, numeric_step=numeric, categorical_step=categorical
    )
    steps = {name: step for name, step, _ in pipeline.named_steps["preprocess"].transformers}
    assert steps == {"numeric": numeric, "categorical": categorical}
    default = build_pipeline(schema, "hist_gradient_boosting", {}, 0)
    steps = {name: step for name, step, _ in default.named_steps["preprocess"].transformers}
    assert steps["numeric"] == "passthrough" and isinstance(steps["categorical"], OneHotEncoder)


def code_calls(notebook: Path) -> dict[str, list[ast.Call]]:
    """Return every call in the notebook's code cells, by the name it calls."""
    cells = json.loads(notebook.read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    calls: dict[str, list[ast.Call]] = {}
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            calls.setdefault(name, []).append(node)
    return calls


def test_02_train_composes_its_pipeline_with_build_pipeline():
    # The notebook builds and shows the steps a data scientist changes; the composition (which
    # step goes where, under which name) is build_pipeline's alone, so the two cannot drift.
    calls = code_calls(PROJECT_ROOT / "notebooks" / "02_train.ipynb")
    assert len(calls.get("build_pipeline", [])) == 1
    keywords = {keyword.arg for keyword in calls["build_pipeline"][0].keywords}
    assert keywords == {"numeric_step", "categorical_step"}
    composing = {"Pipeline", "ColumnTransformer", "column_transformer", "make_estimator"}
    assert composing & set(calls) == set()


def test_train_run_writes_what_evaluation_and_export_read(tmp_path):
    csv = tmp_path / "churn.csv"
    mixed_frame(120).to_csv(csv, index=False)
    run = RunDir(tmp_path / "run")
    trained = train_run(
        run,
        data_path=csv,
        target="churned",
        estimator="random_forest",
        hyperparameters={"n_estimators": 5},
        test_size=0.25,
        random_state=0,
    )
    written = {path.name for path in run.root.iterdir()}
    assert written == {
        "pipeline.skops",
        "schema.json",
        "reference.json",
        "train_features.csv",
        "holdout.csv",
    }
    assert trained.pipeline.named_steps["model"].n_estimators == 5
    holdout = pd.read_csv(run.holdout)
    assert len(holdout) == 30 and list(holdout.columns)[-1] == "churned"
    assert len(pd.read_csv(run.train_features)) == 90


def test_onnx_inputs_follow_columns_whose_names_skl2onnx_renames():
    pipeline, schema, test_x = _fit("random_forest")
    assert "income (usd)" in schema.names
    report = export_onnx(pipeline, schema, test_x)["report"]
    assert report["parity"]["passed"], report
