"""The scoring core on a real exported model: validate with the suite, then predict."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from scripts.pipeline.params import PROJECT_ROOT
from service.model.store import load_model_version
from service.scoring.core import Scored, Scorer
from service.scoring.predictor import OnnxPredictor, PipelinePredictor
from service.validation.results import Rejection

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def version(iris_run):
    return load_model_version(iris_run.tag)


@pytest.fixture(scope="module")
def rows(version) -> pd.DataFrame:
    frame = pd.read_csv(PROJECT_ROOT / "data" / "iris.csv")
    return frame[version.schema.names].iloc[[0, 60, 120]].reset_index(drop=True)


def test_valid_rows_get_the_pipelines_labels_through_onnx(version, rows):
    scorer = Scorer(version)
    scored = scorer.score(rows)
    assert isinstance(scored, Scored) and isinstance(scorer.predictor, OnnxPredictor)
    labels, probabilities = PipelinePredictor(version.load_pipeline(), version.schema).predict(rows)
    assert scored.labels.tolist() == labels.tolist()
    np.testing.assert_allclose(scored.probabilities, probabilities, atol=1e-5)
    assert scorer.classes == [str(c) for c in version.schema.classes]


def test_a_row_outside_the_suite_is_rejected_naming_column_and_row(version, rows):
    column = version.schema.names[0]
    bad = rows.assign(**{column: [rows[column][0], 1000.0, rows[column][2]]})
    rejection = Scorer(version).score(bad)
    assert isinstance(rejection, Rejection) and rejection.error == "validation_failed"
    (failure,) = rejection.failures
    assert (failure.expectation, failure.column, failure.rows) == (
        "expect_column_values_to_be_between",
        column,
        [1],
    )


def test_gx_engine_and_sklearn_engine_give_the_same_verdict(version, rows):
    scorer = Scorer(version, validation_engine="gx", prediction_engine="sklearn")
    assert isinstance(scorer.predictor, PipelinePredictor)
    assert scorer.prediction_engine == "sklearn"
    assert Scorer(version).score(rows).labels.tolist() == scorer.score(rows).labels.tolist()


def test_an_expectation_not_compiled_is_named_and_judged_by_gx(version, rows):
    column = version.schema.names[0]
    unique = {"type": "expect_column_values_to_be_unique", "kwargs": {"column": column}}
    suite = {**version.suite, "expectations": [*version.suite["expectations"], unique]}
    scorer = Scorer(dataclasses.replace(version, suite=suite))
    assert scorer.delegated == [
        {"expectation": "expect_column_values_to_be_unique", "column": column}
    ]
    repeated = pd.concat([rows, rows.iloc[[0]]], ignore_index=True)
    rejection = scorer.score(repeated)
    assert isinstance(rejection, Rejection)
    assert [f.expectation for f in rejection.failures] == ["expect_column_values_to_be_unique"]
    assert isinstance(scorer.score(rows), Scored)


def test_the_scoring_core_does_not_import_bentoml():
    script = "import sys, service.scoring.core\nassert 'bentoml' not in sys.modules, 'bentoml imported'\n"
    subprocess.run([sys.executable, "-c", script], check=True, cwd=PROJECT_ROOT)
