"""The compiled suite gives Great Expectations' verdict, expectation by expectation.

GX runs for real here (30 to 100 ms a validation), through one cached context.
"""

from __future__ import annotations

import io
import json
import math
import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scripts.export.suite_parity import suite_parity_report
from scripts.pipeline.data import infer_schema, split_target
from scripts.pipeline.suite import build_suite
from service.validation.compiled import CompiledSuite, gx_failures
from service.validation.gx_engine import gx_outcomes
from service.validation.results import Rejection

COLUMNS = ["x", "n", "c"]  # a float column, an int column, a text column
GRID = [-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0]  # bounds and values share it: ties happen
CATEGORIES = ["a", "b", "c", ""]
TYPE_NAMES = ["str", "float", "int", "float64", "int64", "bool", "object", "StringDtype"]

# 150 examples take about 10 s and are the same on every run. To search further, set
# GX_PARITY_EXAMPLES (e.g. 3000): the examples are then drawn afresh each run.
EXPLORE = os.environ.get("GX_PARITY_EXAMPLES")
settings.register_profile(
    "gx-parity",
    max_examples=int(EXPLORE or 150),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=not EXPLORE,
)

nulls = st.sampled_from([None, math.nan])
numbers = st.one_of(st.sampled_from(GRID), st.floats(-3, 4, allow_nan=False))
clean = {
    "x": st.one_of(numbers, numbers, nulls),
    "n": st.integers(-3, 4),
    "c": st.one_of(st.sampled_from(CATEGORIES), st.sampled_from(CATEGORIES), nulls),
}
# Mostly clean values, with what a careless client sends: unknown categories, numbers as text,
# text in number columns, booleans, lists, infinity.
wrong = {
    "x": st.sampled_from(["abc", "1.5", True, [1], math.inf, 2]),
    "n": st.one_of(nulls, st.sampled_from([0.5, 2.0, "abc", True, [1]])),
    "c": st.sampled_from(["zz", 1, 2.5, False, 0]),
}


@st.composite
def frames(draw) -> pd.DataFrame:
    rows = draw(st.integers(0, 30))
    present = draw(
        st.sampled_from([COLUMNS, COLUMNS, COLUMNS, ["x", "c"], ["c", "x", "n"], COLUMNS + ["z"]])
    )
    columns = {}
    for name in present:
        if name not in clean:
            columns[name] = draw(st.lists(st.integers(0, 2), min_size=rows, max_size=rows))
            continue  # a column the suite does not know
        cells = draw(st.lists(clean[name], min_size=rows, max_size=rows))
        if rows and draw(st.booleans()):
            for row in draw(st.lists(st.integers(0, rows - 1), min_size=1, max_size=3)):
                cells[row] = draw(wrong[name])
        columns[name] = cells
    how = draw(st.sampled_from(["records", "columns", "csv"]))
    records = [{name: columns[name][row] for name in present} for row in range(rows)]
    frame = pd.DataFrame.from_records(records, columns=present)
    if how == "columns":
        frame = pd.DataFrame(columns, columns=present)
    elif how == "csv" and rows:
        frame = pd.read_csv(io.StringIO(frame.to_csv(index=False)))
    return frame


mostly = st.one_of(st.just(1.0), st.just(1), st.floats(0.01, 1.0), st.sampled_from([0.5, 0.9]))
any_column = st.sampled_from(COLUMNS + ["missing"])
numeric_column = st.sampled_from(["x", "x", "n", "n", "c", "missing"])
text_column = st.sampled_from(["c", "c", "c", "x", "n", "missing"])


@st.composite
def between(draw) -> dict:
    low, high = (
        draw(st.one_of(st.sampled_from(GRID), st.none())),
        draw(st.one_of(st.sampled_from(GRID), st.none())),
    )
    if low is None and high is None:
        high = draw(st.sampled_from(GRID))
    kwargs = {"column": draw(numeric_column), "min_value": low, "max_value": high}
    if draw(st.booleans()):
        kwargs["strict_min"] = draw(st.booleans())
        kwargs["strict_max"] = draw(st.booleans())
    return kwargs


def expectation(kind: str, **kwargs: object) -> dict:
    return {"type": kind, "kwargs": kwargs, "meta": {}}


def with_mostly(draw, kwargs: dict) -> dict:
    if draw(st.booleans()):
        kwargs["mostly"] = draw(mostly)
    return kwargs


@st.composite
def expectations(draw) -> dict:
    kind = draw(
        st.sampled_from(
            [
                "expect_table_columns_to_match_set",
                "expect_table_columns_to_match_ordered_list",
                "expect_column_to_exist",
                "expect_column_values_to_not_be_null",
                "expect_column_values_to_be_null",
                "expect_column_values_to_be_between",
                "expect_column_values_to_be_between",
                "expect_column_values_to_be_in_set",
                "expect_column_values_to_be_in_set",
                "expect_column_values_to_be_of_type",
                "expect_column_values_to_be_in_type_list",
                "expect_column_values_to_be_in_type_list",
                "expect_column_values_to_be_unique",  # not compiled: handed to GX
            ]
        )
    )
    if kind == "expect_table_columns_to_match_set":
        column_set = draw(st.lists(st.sampled_from(COLUMNS + ["z"]), unique=True))
        return expectation(kind, column_set=column_set, exact_match=draw(st.booleans()))
    if kind == "expect_table_columns_to_match_ordered_list":
        return expectation(kind, column_list=draw(st.permutations(COLUMNS)))
    if kind == "expect_column_to_exist":
        kwargs = {"column": draw(any_column)}
        if draw(st.booleans()):
            kwargs["column_index"] = draw(st.integers(-1, 3))
        return expectation(kind, **kwargs)
    if kind == "expect_column_values_to_be_between":
        return expectation(kind, **with_mostly(draw, draw(between())))
    if kind == "expect_column_values_to_be_in_set":
        value_set = draw(
            st.one_of(
                st.lists(st.sampled_from(CATEGORIES), unique=True),
                st.lists(st.sampled_from([0, 1, 2.0, 0.5, -1]), unique=True, min_size=1),
                st.just([1, "a", False]),
            )
        )
        kwargs = {"column": draw(text_column), "value_set": value_set}
        return expectation(kind, **with_mostly(draw, kwargs))
    if kind == "expect_column_values_to_be_of_type":
        kwargs = {"column": draw(any_column), "type_": draw(st.sampled_from(TYPE_NAMES))}
        return expectation(kind, **with_mostly(draw, kwargs))
    if kind == "expect_column_values_to_be_in_type_list":
        type_list = draw(st.lists(st.sampled_from(TYPE_NAMES), min_size=1, max_size=3))
        kwargs = {"column": draw(any_column), "type_list": type_list}
        return expectation(kind, **with_mostly(draw, kwargs))
    return expectation(kind, **with_mostly(draw, {"column": draw(any_column)}))


suites = st.lists(expectations(), min_size=1, max_size=8).map(
    lambda items: {"name": "drawn", "expectations": items, "meta": {}}
)


def describe(frame: pd.DataFrame) -> str:
    cells = {name: frame[name].tolist() for name in frame.columns}
    return f"dtypes {frame.dtypes.astype(str).to_dict()}\ncells {cells}"


@settings(settings.get_profile("gx-parity"))
@given(frame=frames(), suite=suites)
def test_compiled_outcomes_equal_gx_outcomes(frame: pd.DataFrame, suite: dict) -> None:
    ours = CompiledSuite(suite).outcomes(frame)
    theirs = gx_outcomes(frame, suite)
    assert len(ours) == len(theirs) == len(suite["expectations"])
    for item, mine, gx in zip(suite["expectations"], ours, theirs, strict=True):
        assert (mine.expectation, mine.column) == (gx.expectation, gx.column)
        assert (mine.success, mine.unexpected_rows) == (gx.success, gx.unexpected_rows), (
            f"{json.dumps(item)}\n{describe(frame)}"
        )


# --- the suite the builder writes, in both engines ----------------------------------------


@pytest.fixture(scope="module")
def training() -> pd.DataFrame:
    text = (
        "length,count,colour,shade,label\n"
        "1.5,3,red,dark,yes\n"
        "2.5,4,blue,,no\n"
        "4.0,1,red,light,yes\n"
        ",7,green,dark,no\n"
        "3.25,2,blue,light,yes\n"
    )
    return pd.read_csv(io.StringIO(text))


def normalised(suite: dict) -> dict:
    """The suite as GX writes it back: keyword arguments at their defaults are left out."""
    defaults = {"exact_match": True, "strict_min": False, "strict_max": False}
    expectations = [
        {
            **item,
            "kwargs": {k: v for k, v in item["kwargs"].items() if defaults.get(k, object()) != v},
        }
        for item in suite["expectations"]
    ]
    return {**suite, "expectations": expectations}


def test_built_suite_is_accepted_by_gx_and_round_trips(training: pd.DataFrame) -> None:
    import great_expectations as gx

    features, labels = split_target(training, "label")
    suite = build_suite(features, infer_schema(features, labels), name="shapes")
    gx_suite = gx.ExpectationSuite(**suite)
    written = gx_suite.to_json_dict()
    assert written == normalised(suite)
    assert gx.ExpectationSuite(**written) == gx_suite
    assert [e.expectation_type for e in gx_suite.expectations] == [
        item["type"] for item in suite["expectations"]
    ]


def test_training_data_passes_in_both_engines(training: pd.DataFrame) -> None:
    features, labels = split_target(training, "label")
    suite = build_suite(features, infer_schema(features, labels), name="shapes")
    assert all(outcome.success for outcome in gx_outcomes(features, suite))
    assert CompiledSuite(suite).failures(features) == []
    # The same rows as a JSON client sends them: records, None for gaps, ints for floats.
    records = json.loads(features.to_json(orient="records"))
    records[0]["length"] = 2  # an int where training had floats
    request = pd.DataFrame.from_records(records)
    assert all(outcome.success for outcome in gx_outcomes(request, suite))
    assert CompiledSuite(suite).failures(request) == []


def test_iris_and_perturbed_copies_agree_in_parity_report() -> None:
    from scripts.pipeline.data import load_table

    features, labels = split_target(load_table("data/iris.csv", "species"), "species")
    suite = build_suite(features, infer_schema(features, labels), name="iris")
    report = suite_parity_report(features.sample(40, random_state=1), suite, seed=3, copies=4)
    assert report["mismatches"] == []
    assert report["agree"] is True
    assert report["checked_frames"] == 5
    assert report["expectations_compared"] == 5 * len(suite["expectations"])


def test_gx_failures_equal_compiled_failures(training: pd.DataFrame) -> None:
    features, labels = split_target(training, "label")
    suite = build_suite(features, infer_schema(features, labels), name="shapes")
    request = pd.DataFrame.from_records(
        [
            {"length": 99.0, "count": 3, "colour": "purple", "shade": None},
            {"length": "long", "count": None, "colour": 7, "shade": "dark"},
            {"length": 2.0, "count": 2, "colour": "red", "shade": "light"},
        ]
    )
    compiled = CompiledSuite(suite).failures(request)
    assert compiled == gx_failures(request, suite)
    assert {(f.expectation, f.column) for f in compiled} >= {
        ("expect_column_values_to_be_between", "length"),
        ("expect_column_values_to_be_in_set", "colour"),
        ("expect_column_values_to_not_be_null", "count"),
    }


def failed(outcomes: list) -> set[tuple[str, str | None]]:
    return {(outcome.expectation, outcome.column) for outcome in outcomes if not outcome.success}


def test_missing_column_and_value_out_of_bounds_are_named_in_one_rejection(
    training: pd.DataFrame,
) -> None:
    features, labels = split_target(training, "label")
    suite = build_suite(features, infer_schema(features, labels), name="shapes")
    # The service's {name: array} batch, as the parser gives it, without "shade".
    batch = {
        "length": np.array([2.0, 99.0]),
        "count": np.array([3.0, 4.0]),
        "colour": pd.array(["red", "blue"], dtype="str"),
    }
    rejection = Rejection.validation_failed(CompiledSuite(suite).failures(batch))
    body = rejection.body()
    assert (rejection.status, body["error"]) == (400, "validation_failed")
    named = {(f["expectation"], f["column"]): f for f in body["failures"]}
    assert named[("expect_column_values_to_be_between", "length")]["rows"] == [1]
    assert named[("expect_column_values_to_be_between", "length")]["observed"] == [99.0]
    assert set(named) == {
        ("expect_table_columns_to_match_set", None),
        ("expect_column_values_to_be_between", "length"),
        ("expect_column_to_exist", "shade"),
        ("expect_column_values_to_be_of_type", "shade"),
        ("expect_column_values_to_be_in_set", "shade"),
    }
    assert body["message"] == "5 expectation(s) of the model's suite failed; see failures"
    frame = pd.DataFrame(batch)
    assert failed(gx_outcomes(frame, suite)) == set(named)
    assert rejection.failures == gx_failures(frame, suite)


def test_text_in_a_number_column_fails_its_type_and_bounds_and_the_rest_is_still_judged(
    training: pd.DataFrame,
) -> None:
    features, labels = split_target(training, "label")
    suite = build_suite(features, infer_schema(features, labels), name="shapes")
    batch = {
        "length": np.array(["long", 2.0], dtype=object),
        "count": np.array([3.0, 40.0]),
        "colour": pd.array(["red", "blue"], dtype="str"),
    }
    failures = CompiledSuite(suite).failures(batch)
    rows = {(f.expectation, f.column): f.rows for f in failures}
    assert rows == {
        ("expect_table_columns_to_match_set", None): [],
        # GX cannot compare "long" with the bounds and fails the rule without rows; the
        # failure names the row whose value is no number.
        ("expect_column_values_to_be_in_type_list", "length"): [0],
        ("expect_column_values_to_be_between", "length"): [0],
        ("expect_column_values_to_be_between", "count"): [1],
        ("expect_column_to_exist", "shade"): [],
        ("expect_column_values_to_be_of_type", "shade"): [],
        ("expect_column_values_to_be_in_set", "shade"): [],
    }
    frame = pd.DataFrame(batch)
    assert failed(gx_outcomes(frame, suite)) == set(rows)
    assert failures == gx_failures(frame, suite)


def test_delegated_expectation_keeps_its_place_in_suite_order() -> None:
    suite = {
        "name": "mixed",
        "expectations": [
            expectation("expect_column_values_to_be_between", column="x", min_value=0, max_value=1),
            expectation("expect_column_values_to_be_unique", column="x"),
            expectation("expect_column_values_to_match_regex", column="c", regex="^a"),
            expectation("expect_column_values_to_not_be_null", column="c"),
        ],
    }
    compiled = CompiledSuite(suite)
    assert compiled.delegated == [
        {"expectation": "expect_column_values_to_be_unique", "column": "x"},
        {"expectation": "expect_column_values_to_match_regex", "column": "c"},
    ]
    frame = pd.DataFrame({"x": [0.5, 0.5, 2.0], "c": ["ab", "b", None]})
    outcomes = compiled.outcomes(frame)
    assert outcomes == gx_outcomes(frame, suite)
    assert [(o.success, o.unexpected_rows) for o in outcomes] == [
        (False, [2]),
        (False, [0, 1]),
        (False, [1]),
        (False, [2]),
    ]


def test_datetime_column_is_judged_by_gx() -> None:
    suite = {
        "name": "dates",
        "expectations": [
            expectation("expect_column_values_to_be_between", column="d", min_value=0, max_value=1)
        ],
    }
    frame = pd.DataFrame({"d": pd.to_datetime(["2024-01-01", "2024-02-01"])})
    assert CompiledSuite(suite).outcomes(frame) == gx_outcomes(frame, suite)


def test_ten_thousand_rows_report_every_unexpected_row() -> None:
    suite = {
        "name": "big",
        "expectations": [
            expectation("expect_column_values_to_be_between", column="x", min_value=0, max_value=1)
        ],
    }
    values = np.linspace(-1, 2, 10_000)
    frame = pd.DataFrame({"x": values})
    ours = CompiledSuite(suite).outcomes(frame)
    assert ours == gx_outcomes(frame, suite)
    assert ours[0].unexpected_rows == np.flatnonzero((values < 0) | (values > 1)).tolist()
