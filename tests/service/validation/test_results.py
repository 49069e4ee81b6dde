"""One failure shape, one rejection, one row cap and one way to word a row list."""

import math

import numpy as np

from scripts.pipeline.params import PROJECT_ROOT
from service.validation.results import MAX_LISTED_ROWS, Rejection, failure, rows_phrase


def test_rows_phrase_words_one_few_and_many_rows():
    assert rows_phrase([3]) == "row 3"
    assert rows_phrase(np.array([0, 4])) == "rows 0 and 4"
    assert rows_phrase([0, 4, 7]) == "rows 0, 4 and 7"
    assert rows_phrase(list(range(17))) == "rows 0, 1, 2, 3, 4 and 12 more"


def test_failure_lists_at_most_the_cap_but_counts_every_row():
    built = failure("rule", "x", list(range(50)), [float(i) for i in range(50)], "m")
    assert built.rows == list(range(MAX_LISTED_ROWS))
    assert built.observed == [float(i) for i in range(MAX_LISTED_ROWS)]
    assert built.unexpected_count == 50


def test_validation_failed_body_is_json_safe_and_counts_the_failures():
    failures = [failure("rule", "x", [0, 1], [math.nan, np.float32(2.5)], "m")]
    rejection = Rejection.validation_failed(failures)
    assert rejection.status == 400
    assert rejection.body() == {
        "error": "validation_failed",
        "message": "1 expectation(s) of the model's suite failed; see failures",
        "failures": [
            {
                "expectation": "rule",
                "column": "x",
                "rows": [0, 1],
                "observed": [None, 2.5],
                "unexpected_count": 2,
                "message": "m",
            }
        ],
    }


def test_only_results_builds_a_validation_failed_rejection():
    writers = [
        path.relative_to(PROJECT_ROOT).as_posix()
        for path in (PROJECT_ROOT / "service").rglob("*.py")
        if '"validation_failed"' in path.read_text()
    ]
    assert writers == ["service/validation/results.py"]


def test_what_the_body_parser_found_comes_first_and_is_not_repeated_by_the_suite():
    missing = failure("expect_column_to_exist", "b", [0, 2], [], "b is missing from rows 0 and 2")
    suite = [
        failure("expect_table_columns_to_match_set", None, [], [], "missing: b"),
        failure("expect_column_values_to_be_between", "a", [1], [99.0], "a must be ..."),
        failure("expect_column_to_exist", "b", [], [], "column b is missing"),
        failure("expect_column_values_to_not_be_null", "b", [], [], "b must have a value"),
    ]
    rejection = Rejection.validation_failed(suite, found=[missing])
    assert rejection.failures == [missing, suite[0], suite[1], suite[3]]
    body = rejection.body()
    assert body["error"] == "validation_failed"
    assert body["message"] == "4 expectation(s) of the model's suite failed; see failures"
    assert Rejection.validation_failed(suite).failures == suite
