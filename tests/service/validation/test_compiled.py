"""The compiled suite: verdicts, rows, messages and the error body, without running GX."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from scripts.pipeline.params import PROJECT_ROOT
from service.errors import UserError
from service.validation.compiled import CompiledSuite
from service.validation.results import MAX_LISTED_ROWS, Failure, Outcome

ROOT = PROJECT_ROOT


def expectation(kind: str, **kwargs: object) -> dict:
    return {"type": kind, "kwargs": kwargs, "meta": {}}


def suite_of(*expectations: dict) -> dict:
    return {"name": "test", "expectations": list(expectations), "meta": {}}


def between(column: str = "sepal_length_cm", low=4.3, high=7.9, **kwargs) -> dict:
    return expectation(
        "expect_column_values_to_be_between",
        column=column,
        min_value=low,
        max_value=high,
        **kwargs,
    )


def only_failure(suite: dict, frame: pd.DataFrame, **options) -> Failure:
    failures = CompiledSuite(suite, **options).failures(frame)
    assert len(failures) == 1, failures
    return failures[0]


# --- between ----------------------------------------------------------------------------


def test_value_above_max_is_reported_with_row_and_value() -> None:
    frame = pd.DataFrame({"sepal_length_cm": [5.0, 104.0, 6.1]})
    failure = only_failure(suite_of(between()), frame)
    assert failure.expectation == "expect_column_values_to_be_between"
    assert failure.column == "sepal_length_cm"
    assert failure.rows == [1]
    assert failure.observed == [104.0]
    assert failure.unexpected_count == 1


def test_message_names_column_bounds_and_rows() -> None:
    frame = pd.DataFrame({"sepal_length_cm": [104.0, 5.0, 6.0, -1.0]})
    failure = only_failure(suite_of(between()), frame)
    assert failure.message == "sepal_length_cm must be between 4.3 and 7.9; rows 0 and 3 are not"
    assert failure.observed == [104.0, -1.0]


def test_boundary_values_pass_inclusive_bounds_and_fail_strict_ones() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 1.5]})
    inclusive = CompiledSuite(suite_of(between("x", 1, 2)))
    strict = CompiledSuite(suite_of(between("x", 1, 2, strict_min=True, strict_max=True)))
    assert inclusive.failures(frame) == []
    assert strict.outcomes(frame)[0].unexpected_rows == [0, 1]
    assert strict.failures(frame)[0].message.startswith("x must be greater than 1 and less than 2")


def test_one_sided_bounds() -> None:
    frame = pd.DataFrame({"x": [-5.0, 0.0, 5.0]})
    at_least = CompiledSuite(suite_of(between("x", 0, None)))
    at_most = CompiledSuite(suite_of(between("x", None, 0, strict_max=True)))
    assert at_least.outcomes(frame)[0].unexpected_rows == [0]
    assert at_most.outcomes(frame)[0].unexpected_rows == [1, 2]
    assert at_least.failures(frame)[0].message == "x must be at least 0; row 0 is not"


def test_int_column_is_compared_with_float_bounds() -> None:
    frame = pd.DataFrame.from_records([{"x": 5}, {"x": 9}])
    assert frame["x"].dtype == np.int64
    assert CompiledSuite(suite_of(between("x", 4.3, 7.9))).outcomes(frame)[0].unexpected_rows == [1]


def test_nulls_are_not_judged_by_between_or_in_set() -> None:
    frame = pd.DataFrame({"x": [1.0, np.nan, None], "c": ["a", None, np.nan]})
    suite = suite_of(
        between("x", 0, 2),
        expectation("expect_column_values_to_be_in_set", column="c", value_set=["a"]),
    )
    assert [(o.success, o.unexpected_rows) for o in CompiledSuite(suite).outcomes(frame)] == [
        (True, []),
        (True, []),
    ]


def test_string_in_number_column_fails_between_and_the_failure_names_its_row() -> None:
    frame = pd.DataFrame.from_records([{"x": 1.0}, {"x": "tall"}, {"x": 99.0}])
    compiled = CompiledSuite(suite_of(between("x", 0, 2)))
    # GX raises TypeError comparing "tall" with 0.0: the whole expectation fails, no rows.
    assert compiled.outcomes(frame) == [
        Outcome("expect_column_values_to_be_between", "x", False, [])
    ]
    failure = compiled.failures(frame)[0]
    assert failure.rows == [1]
    assert failure.observed == ["tall"]
    assert failure.message == "x must be a number between 0 and 2; row 1 is not a number"


def test_min_above_max_fails_without_rows() -> None:
    frame = pd.DataFrame({"x": [1.0]})
    failure = only_failure(suite_of(between("x", 3, 1)), frame)
    assert failure.rows == []
    assert "min_value is above max_value" in failure.message


# --- mostly and nulls --------------------------------------------------------------------


def test_mostly_allows_a_fraction_of_failures() -> None:
    frame = pd.DataFrame({"x": [0.5] * 9 + [5.0]})  # 1 of 10 outside
    passes = CompiledSuite(suite_of(between("x", 0, 1, mostly=0.9))).outcomes(frame)[0]
    fails = CompiledSuite(suite_of(between("x", 0, 1, mostly=0.95))).outcomes(frame)[0]
    assert (passes.success, passes.unexpected_rows) == (True, [9])
    assert (fails.success, fails.unexpected_rows) == (False, [9])


def test_mostly_counts_only_non_null_values_for_column_map_expectations() -> None:
    # 2 nulls, 1 of the 2 other values outside: GX's ratio is 1/2, not 3/4.
    frame = pd.DataFrame({"x": [np.nan, np.nan, 0.5, 5.0]})
    assert CompiledSuite(suite_of(between("x", 0, 1, mostly=0.5))).outcomes(frame)[0].success
    assert not CompiledSuite(suite_of(between("x", 0, 1, mostly=0.6))).outcomes(frame)[0].success


def test_not_null_mostly_counts_all_rows() -> None:
    frame = pd.DataFrame({"x": [1.0, None, 2.0, 3.0]})
    lenient = expectation("expect_column_values_to_not_be_null", column="x", mostly=0.75)
    strict = expectation("expect_column_values_to_not_be_null", column="x")
    outcomes = CompiledSuite(suite_of(lenient, strict)).outcomes(frame)
    assert [(o.success, o.unexpected_rows) for o in outcomes] == [(True, [1]), (False, [1])]


def test_empty_value_is_reported_by_not_null_with_a_readable_message() -> None:
    frame = pd.DataFrame.from_records([{"x": 1.0}, {"x": None}])
    failure = only_failure(
        suite_of(expectation("expect_column_values_to_not_be_null", column="x")), frame
    )
    assert (failure.rows, failure.observed) == ([1], [None])
    assert failure.message == "x must have a value; row 1 is empty"


def test_all_null_column_passes_column_map_expectations() -> None:
    frame = pd.DataFrame({"x": [None, None]})
    suite = suite_of(
        between("x", 0, 1),
        expectation("expect_column_values_to_be_in_type_list", column="x", type_list=["int"]),
    )
    assert all(o.success for o in CompiledSuite(suite).outcomes(frame))


def test_empty_frame_passes_column_map_expectations() -> None:
    frame = pd.DataFrame({"x": pd.Series([], dtype="float64")})
    suite = suite_of(
        between("x", 0, 1), expectation("expect_column_values_to_not_be_null", column="x")
    )
    assert CompiledSuite(suite).failures(frame) == []


# --- sets, types, columns -----------------------------------------------------------------


def test_unknown_category_is_rejected() -> None:
    frame = pd.DataFrame.from_records([{"species": "setosa"}, {"species": "dragon"}])
    suite = suite_of(
        expectation(
            "expect_column_values_to_be_in_set",
            column="species",
            value_set=["setosa", "versicolor", "virginica"],
        )
    )
    failure = only_failure(suite, frame)
    assert (failure.rows, failure.observed) == ([1], ["dragon"])
    assert failure.message == "species must be one of setosa, versicolor, virginica; row 1 is not"


def test_value_set_of_numbers_matches_like_pandas_isin() -> None:
    frame = pd.DataFrame({"n": [1, 2, 3]})
    suite = suite_of(
        expectation("expect_column_values_to_be_in_set", column="n", value_set=[1.0, 3])
    )
    assert CompiledSuite(suite).outcomes(frame)[0].unexpected_rows == [1]


def test_number_in_text_column_fails_the_type_check_with_its_row() -> None:
    frame = pd.DataFrame.from_records([{"c": "red"}, {"c": 7}, {"c": None}])
    assert frame["c"].dtype == object
    suite = suite_of(expectation("expect_column_values_to_be_of_type", column="c", type_="str"))
    failure = only_failure(suite, frame)
    assert (failure.rows, failure.observed) == ([1], [7])
    assert failure.message == "c must be text (str); row 1 is not"


def test_pandas_str_column_passes_of_type_str() -> None:
    frame = pd.DataFrame.from_records([{"c": "red"}, {"c": None}])
    assert isinstance(frame["c"].dtype, pd.StringDtype)
    suite = suite_of(expectation("expect_column_values_to_be_of_type", column="c", type_="str"))
    assert CompiledSuite(suite).failures(frame) == []


def test_in_type_list_str_fails_on_pandas_str_dtype_as_gx_does() -> None:
    frame = pd.DataFrame({"c": ["red", "blue"]})
    suite = suite_of(
        expectation("expect_column_values_to_be_in_type_list", column="c", type_list=["str"])
    )
    assert CompiledSuite(suite).outcomes(frame) == [
        Outcome("expect_column_values_to_be_in_type_list", "c", False, [])
    ]


def test_numeric_type_list_accepts_ints_and_floats() -> None:
    suite = suite_of(
        expectation(
            "expect_column_values_to_be_in_type_list", column="x", type_list=["float", "int"]
        )
    )
    compiled = CompiledSuite(suite)
    for values in ([5, 6], [5.0, 6.5], [5, None], [None, None]):
        assert compiled.failures(pd.DataFrame.from_records([{"x": v} for v in values])) == []


def test_text_sent_for_a_number_column_fails_the_type_check_and_names_the_rows() -> None:
    frame = pd.DataFrame.from_records([{"x": "5.1"}, {"x": "6"}])
    suite = suite_of(
        expectation(
            "expect_column_values_to_be_in_type_list", column="x", type_list=["float", "int"]
        )
    )
    # GX judges a str column by its dtype: a failure with no rows; the Failure names them.
    assert CompiledSuite(suite).outcomes(frame)[0].unexpected_rows == []
    failure = only_failure(suite, frame)
    assert (failure.rows, failure.observed) == ([0, 1], ["5.1", "6"])
    assert failure.message == (
        "x must be a number (float or int), but the column holds str values (rows 0 and 1)"
    )


def test_missing_column_fails_every_expectation_on_it() -> None:
    frame = pd.DataFrame({"other": [1.0]})
    suite = suite_of(
        expectation("expect_column_to_exist", column="x"),
        between("x", 0, 1),
        expectation("expect_column_values_to_not_be_null", column="x"),
        expectation("expect_column_values_to_be_in_set", column="x", value_set=["a"]),
        expectation("expect_column_values_to_be_of_type", column="x", type_="str"),
    )
    failures = CompiledSuite(suite).failures(frame)
    assert [(f.column, f.rows) for f in failures] == [("x", [])] * 5
    assert failures[0].message == "column x is missing; send it in every record"
    assert failures[1].message == (
        "x must be between 0 and 1, but the column is missing; send it in every record"
    )


def test_extra_column_fails_exact_match_but_passes_subset_match() -> None:
    frame = pd.DataFrame({"a": [1], "b": [2], "extra": [3]})
    exact = expectation(
        "expect_table_columns_to_match_set", column_set=["a", "b"], exact_match=True
    )
    subset = expectation(
        "expect_table_columns_to_match_set", column_set=["a", "b"], exact_match=False
    )
    outcomes = CompiledSuite(suite_of(exact, subset)).outcomes(frame)
    assert [o.success for o in outcomes] == [False, True]
    failure = CompiledSuite(suite_of(exact)).failures(frame)[0]
    assert failure.message == "the columns must be exactly a, b; not expected: extra"


def test_missing_column_fails_subset_match() -> None:
    frame = pd.DataFrame({"a": [1]})
    subset = expectation(
        "expect_table_columns_to_match_set", column_set=["a", "b"], exact_match=False
    )
    failure = only_failure(suite_of(subset), frame)
    assert failure.message == "the columns must be at least a, b; missing: b"


def test_ordered_list_and_column_index() -> None:
    frame = pd.DataFrame({"b": [1], "a": [2]})
    suite = suite_of(
        expectation("expect_table_columns_to_match_ordered_list", column_list=["a", "b"]),
        expectation("expect_column_to_exist", column="a", column_index=1),
        expectation("expect_column_to_exist", column="a", column_index=0),  # 0 means anywhere
        expectation("expect_column_to_exist", column="b", column_index=5),
    )
    assert [o.success for o in CompiledSuite(suite).outcomes(frame)] == [False, True, True, False]


# --- outcomes, failures, the error body ------------------------------------------------------


def test_outcomes_follow_suite_order_with_no_rows_for_table_expectations() -> None:
    frame = pd.DataFrame({"x": [0.5, 9.0]})
    suite = suite_of(
        expectation("expect_table_columns_to_match_set", column_set=["x"]),
        between("x", 0, 1),
        expectation("expect_column_to_exist", column="x"),
    )
    assert CompiledSuite(suite).outcomes(frame) == [
        Outcome("expect_table_columns_to_match_set", None, True, []),
        Outcome("expect_column_values_to_be_between", "x", False, [1]),
        Outcome("expect_column_to_exist", "x", True, []),
    ]


def test_rows_are_positions_whatever_the_index() -> None:
    frame = pd.DataFrame({"x": [0.5, 9.0, 7.0]}, index=[100, 200, 300])
    assert CompiledSuite(suite_of(between("x", 0, 1))).outcomes(frame)[0].unexpected_rows == [1, 2]


def test_rows_and_observed_are_capped_but_the_count_is_not() -> None:
    frame = pd.DataFrame({"x": np.arange(30, dtype=float)})
    failure = only_failure(suite_of(between("x", 0, 1)), frame)
    assert failure.rows == list(range(2, 2 + MAX_LISTED_ROWS))
    assert failure.observed == [float(row) for row in range(2, 2 + MAX_LISTED_ROWS)]
    assert failure.unexpected_count == 28
    assert failure.message == "x must be between 0 and 1; rows 2, 3, 4, 5, 6 and 23 more are not"


def test_mostly_is_explained_in_the_message() -> None:
    frame = pd.DataFrame({"x": [5.0, 5.0, 0.5]})
    failure = only_failure(suite_of(between("x", 0, 1, mostly=0.9)), frame)
    assert failure.message.endswith("(at least 90% of the values must pass)")


def test_to_dict_is_json_safe_with_nan_numpy_scalars_and_infinity() -> None:
    failure = Failure(
        expectation="expect_column_values_to_be_between",
        column="x",
        rows=[0, 1, 2, 3],
        observed=[math.nan, np.float64(2.5), np.int64(7), math.inf],
        unexpected_count=4,
        message="x must be between 0 and 1; rows 0, 1, 2 and 3 are not",
    )
    body = failure.to_dict()
    assert body["observed"] == [None, 2.5, 7, "Infinity"]
    assert type(body["observed"][2]) is int
    assert json.loads(json.dumps(body, allow_nan=False)) == body


def test_failures_from_a_request_serialise_to_strict_json() -> None:
    frame = pd.DataFrame.from_records(
        [{"x": np.inf, "c": "zz"}, {"x": "abc", "c": None}, {"x": 0.5, "c": 3}]
    )
    suite = suite_of(
        between("x", 0, 1),
        expectation("expect_column_values_to_be_in_set", column="c", value_set=["a"]),
        expectation("expect_column_values_to_not_be_null", column="c"),
    )
    bodies = [f.to_dict() for f in CompiledSuite(suite).failures(frame)]
    text = json.dumps(bodies, allow_nan=False)
    assert json.loads(text) == bodies
    # "abc" makes GX fail the range check as a whole; the body names the value it could not
    # compare (row 1). Infinity in row 0 is reported once the client resends a number there.
    assert [body["rows"] for body in bodies] == [[1], [0, 2], [1]]
    assert bodies[1]["observed"] == ["zz", 3]


def test_valid_frame_has_no_failures() -> None:
    frame = pd.DataFrame({"sepal_length_cm": [4.3, 7.9, 5.5]})
    assert CompiledSuite(suite_of(between())).failures(frame) == []


# --- compiling ----------------------------------------------------------------------------


def test_unknown_expectation_type_is_delegated_to_gx() -> None:
    suite = suite_of(
        between("x", 0, 1),
        expectation("expect_column_values_to_be_unique", column="x"),
        expectation("expect_column_values_to_be_in_set", column="x", value_set={"$PARAMETER": "s"}),
    )
    assert CompiledSuite(suite).delegated == [
        {"expectation": "expect_column_values_to_be_unique", "column": "x"},
        {"expectation": "expect_column_values_to_be_in_set", "column": "x"},
    ]


@pytest.mark.parametrize(
    ("suite", "words"),
    [
        ([], "'expectations' list"),
        ({"expectations": [{"kwargs": {}}]}, "has no 'type'"),
        (suite_of(between("x", None, None)), "needs min_value or max_value"),
        (suite_of(between("x", 0, 1, mostly=1.5)), "mostly=1.5"),
        (suite_of(expectation("expect_column_values_to_not_be_null")), "needs a 'column'"),
    ],
)
def test_invalid_suite_raises_pipeline_error_naming_the_problem(suite, words: str) -> None:
    with pytest.raises(UserError, match=words):
        CompiledSuite(suite)


def test_compiled_path_does_not_import_great_expectations() -> None:
    script = (
        "import sys, pandas as pd\n"
        "from service.validation.compiled import CompiledSuite\n"
        "suite = {'expectations': [{'type': 'expect_column_values_to_be_between',"
        " 'kwargs': {'column': 'x', 'min_value': 0, 'max_value': 1}}]}\n"
        "assert CompiledSuite(suite).failures(pd.DataFrame({'x': [2.0]}))\n"
        "import service.validation.gx_engine\n"
        "assert 'great_expectations' not in sys.modules, 'GX was imported'\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=ROOT)
