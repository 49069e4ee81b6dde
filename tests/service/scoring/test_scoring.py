"""The scoring core on a real exported model: validate with the suite, then predict."""

from __future__ import annotations

import dataclasses
import json
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


def test_a_missing_column_and_a_value_out_of_bounds_come_back_in_one_rejection(version, rows):
    kept, missing = version.schema.names[0], version.schema.names[-1]
    bad = rows.drop(columns=[missing]).assign(**{kept: [rows[kept][0], 1000.0, rows[kept][2]]})
    rejection = Scorer(version).score(bad)
    assert isinstance(rejection, Rejection) and rejection.error == "validation_failed"
    named = {(f.expectation, f.column): f.rows for f in rejection.failures}
    assert named[("expect_column_values_to_be_between", kept)] == [1]
    assert named[("expect_column_to_exist", missing)] == []
    gx = Scorer(version, validation_engine="gx").score(bad)
    assert isinstance(gx, Rejection) and gx.failures == rejection.failures


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


def test_a_json_body_missing_a_field_is_also_judged_on_the_fields_it_has(version, rows):
    from service.http.request_body import RecordParser
    from service.settings import Limits

    kept, missing = version.schema.names[0], version.schema.names[-1]
    records = rows.drop(columns=[missing]).to_dict("records")
    records[1][kept] = 1000.0
    records[2][kept] = "long"  # the wrong type: its type rule names it, and no other rule
    body = json.dumps({"records": records}).encode()
    limits = Limits.from_env()
    rejection = RecordParser(version.schema, limits, judge=Scorer(version).failures).parse(body)
    assert isinstance(rejection, Rejection) and rejection.error == "validation_failed"
    named = {(f.expectation, f.column): f.rows for f in rejection.failures}
    # What the parser found first, with the rows; then the suite's findings, each rule once.
    assert rejection.failures[0].expectation == "expect_column_to_exist"
    assert named[("expect_column_to_exist", missing)] == [0, 1, 2]
    assert named[("expect_column_values_to_be_in_type_list", kept)] == [2]
    assert named[("expect_column_values_to_be_between", kept)] == [1]
    assert [rows for (rule, column), rows in named.items() if column == kept and 2 in rows] == [[2]]
    assert len(named) == len(rejection.failures)
    # Great Expectations itself judges the rest the same way.
    gx = Scorer(version, validation_engine="gx").failures
    assert RecordParser(version.schema, limits, judge=gx).parse(body) == rejection
    alone = RecordParser(version.schema, limits).parse(body)
    assert ("expect_column_values_to_be_between", kept) not in {
        (f.expectation, f.column) for f in alone.failures
    }
