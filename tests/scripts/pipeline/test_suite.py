"""Building the expectation suite from training data, and storing it as JSON."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from scripts.pipeline.data import infer_schema, split_target
from scripts.pipeline.params import PROJECT_ROOT
from scripts.pipeline.suite import build_suite, load_suite, save_suite, suite_table
from service.errors import UserError

TRAINING = (
    "width,count,colour,shade,label\n"
    "2.0,3,red,dark,yes\n"
    "12.0,4,blue,,no\n"
    "4.5,1,red,light,yes\n"
    ",7,green,dark,no\n"
)

ROOT = PROJECT_ROOT


@pytest.fixture
def training() -> tuple[pd.DataFrame, pd.Series]:
    return split_target(pd.read_csv(io.StringIO(TRAINING)), "label")


@pytest.fixture
def suite(training) -> dict:
    features, labels = training
    return build_suite(features, infer_schema(features, labels), name="shapes")


def kinds_for(suite: dict, column: str) -> list[str]:
    return [e["type"] for e in suite["expectations"] if e["kwargs"].get("column") == column]


def kwargs_of(suite: dict, kind: str, column: str) -> dict:
    return next(
        e["kwargs"]
        for e in suite["expectations"]
        if e["type"] == kind and e["kwargs"].get("column") == column
    )


def test_suite_starts_with_the_exact_feature_column_set(suite: dict) -> None:
    first = suite["expectations"][0]
    assert first["type"] == "expect_table_columns_to_match_set"
    assert first["kwargs"] == {
        "column_set": ["width", "count", "colour", "shade"],
        "exact_match": True,
    }


def test_target_column_is_not_in_the_suite(suite: dict) -> None:
    assert not any("label" in json.dumps(e["kwargs"]) for e in suite["expectations"])
    assert suite["meta"]["target"] == "label"


def test_each_column_gets_exist_type_null_and_range_or_set_in_order(suite: dict) -> None:
    assert kinds_for(suite, "count") == [
        "expect_column_to_exist",
        "expect_column_values_to_be_in_type_list",
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_between",
    ]
    assert kinds_for(suite, "colour") == [
        "expect_column_to_exist",
        "expect_column_values_to_be_of_type",
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_in_set",
    ]


def test_not_null_only_where_training_has_no_nulls(suite: dict) -> None:
    assert "expect_column_values_to_not_be_null" not in kinds_for(suite, "width")
    assert "expect_column_values_to_not_be_null" not in kinds_for(suite, "shade")
    assert "expect_column_values_to_not_be_null" in kinds_for(suite, "count")


def test_numeric_range_is_widened_by_the_margin_on_each_side(suite: dict) -> None:
    # width: 2.0 to 12.0, span 10, margin 0.1 -> 1.0 either side
    assert kwargs_of(suite, "expect_column_values_to_be_between", "width") == {
        "column": "width",
        "min_value": 1.0,
        "max_value": 13.0,
        "strict_min": False,
        "strict_max": False,
    }
    count = kwargs_of(suite, "expect_column_values_to_be_between", "count")
    assert (count["min_value"], count["max_value"]) == pytest.approx((0.4, 7.6))


def test_zero_margin_keeps_the_training_extremes(training) -> None:
    features, labels = training
    suite = build_suite(features, infer_schema(features, labels), name="s", range_margin=0)
    width = kwargs_of(suite, "expect_column_values_to_be_between", "width")
    assert (width["min_value"], width["max_value"]) == (2.0, 12.0)
    assert suite["meta"]["range_margin"] == 0


def test_value_set_is_the_sorted_training_categories(suite: dict) -> None:
    colour = kwargs_of(suite, "expect_column_values_to_be_in_set", "colour")
    assert colour["value_set"] == ["blue", "green", "red"]
    shade = kwargs_of(suite, "expect_column_values_to_be_in_set", "shade")
    assert shade["value_set"] == ["dark", "light"]


def test_type_expectations_are_numbers_for_numeric_and_str_for_text(suite: dict) -> None:
    assert kwargs_of(suite, "expect_column_values_to_be_in_type_list", "width")["type_list"] == [
        "float",
        "int",
    ]
    assert kwargs_of(suite, "expect_column_values_to_be_of_type", "shade")["type_"] == "str"


def test_suite_and_expectations_carry_meta(suite: dict) -> None:
    assert suite["name"] == "shapes"
    assert suite["meta"]["range_margin"] == 0.1
    assert suite["meta"]["training_rows"] == 4
    assert all(e["meta"]["source"] == "built from training data" for e in suite["expectations"])
    width = next(
        e
        for e in suite["expectations"]
        if e["type"] == "expect_column_values_to_be_between" and e["kwargs"]["column"] == "width"
    )
    assert (width["meta"]["training_min"], width["meta"]["training_max"]) == (2.0, 12.0)


def test_boolean_column_gets_bool_type_and_value_set() -> None:
    features = pd.DataFrame({"flag": [True, False, True], "x": [1.0, 2.0, 3.0]})
    labels = pd.Series(["a", "b", "a"], name="y")
    suite = build_suite(features, infer_schema(features, labels), name="flags")
    assert kwargs_of(suite, "expect_column_values_to_be_of_type", "flag")["type_"] == "bool"
    assert kwargs_of(suite, "expect_column_values_to_be_in_set", "flag")["value_set"] == [
        False,
        True,
    ]


def test_negative_margin_is_rejected(training) -> None:
    features, labels = training
    with pytest.raises(UserError, match="range_margin"):
        build_suite(features, infer_schema(features, labels), name="s", range_margin=-0.1)


def test_schema_column_missing_from_features_is_named(training) -> None:
    features, labels = training
    schema = infer_schema(features, labels)
    with pytest.raises(UserError, match="colour"):
        build_suite(features.drop(columns=["colour"]), schema, name="s")


def test_suite_table_has_one_readable_row_per_expectation_in_suite_order(suite: dict) -> None:
    table = suite_table(suite)
    assert list(table.columns) == ["rule", "column", "check", "training data"]
    assert table.index.name == "position" and list(table.index) == list(range(len(table)))
    assert list(table["rule"]) == [e["type"] for e in suite["expectations"]]
    rows = {
        (kind, column): (check, training)
        for kind, column, check, training in table.itertuples(index=False, name=None)
    }
    assert rows[("expect_table_columns_to_match_set", "(table)")] == (
        "exactly the columns width, count, colour, shade",
        "",
    )
    assert rows[("expect_column_values_to_be_between", "width")] == (
        "between 1 and 13",
        "range 2 to 12",
    )
    assert rows[("expect_column_values_to_be_in_type_list", "width")] == (
        "type is one of float, int",
        "dtype float64",
    )
    assert rows[("expect_column_values_to_not_be_null", "count")] == (
        "no missing values",
        "0 missing",
    )
    assert rows[("expect_column_values_to_be_in_set", "colour")] == (
        "one of blue, green, red",
        "3 categories",
    )
    assert rows[("expect_column_values_to_be_of_type", "shade")] == ("type is str", "dtype str")
    assert rows[("expect_column_to_exist", "shade")] == ("the column is present", "")


def test_suite_table_spells_strict_and_open_bounds_long_sets_and_other_rules() -> None:
    def rule(kind: str, **kwargs: object) -> dict:
        return {"type": kind, "kwargs": {"column": "x", **kwargs}}

    reviewed = {
        "expectations": [
            rule(
                "expect_column_values_to_be_between", min_value=0, max_value=None, strict_min=True
            ),
            rule("expect_column_values_to_be_between", max_value=2.5),
            rule("expect_column_values_to_be_between", min_value=1, max_value=2, strict_max=True),
            rule("expect_column_values_to_be_in_set", value_set=[f"v{i}" for i in range(20)]),
            rule(
                "expect_column_value_lengths_to_be_between", min_value=1, max_value=5, mostly=0.95
            ),
            {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
        ]
    }
    table = suite_table(reviewed)
    assert list(table["check"]) == [
        "above 0",
        "at most 2.5",
        "at least 1 and below 2",
        "one of v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, … (20 in all)",
        "min_value=1, max_value=5, in at least 95% of the rows",
        "min_value=1",
    ]
    assert list(table["column"]) == ["x"] * 5 + ["(table)"]
    assert list(table["training data"]) == [""] * 6


def test_suite_is_plain_json(suite: dict) -> None:
    assert json.loads(json.dumps(suite, allow_nan=False)) == suite


def test_save_and_load_round_trip(suite: dict, tmp_path: Path) -> None:
    path = save_suite(suite, tmp_path / "expectations" / "shapes.json")
    assert path.read_text().startswith('{\n  "name": "shapes"')
    assert load_suite(path) == suite


def test_loading_a_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="nowhere.json does not exist"):
        load_suite(tmp_path / "nowhere.json")


def test_loading_invalid_json_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(UserError, match="broken.json is not valid JSON"):
        load_suite(path)


def test_loading_json_that_is_not_a_suite_says_what_is_expected(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text("[1, 2]")
    with pytest.raises(UserError, match="'expectations' list|\"expectations\" list"):
        load_suite(path)
    path.write_text('{"expectations": [{"kwargs": {}}]}')
    with pytest.raises(UserError, match="expectation 0"):
        load_suite(path)


def test_building_a_suite_does_not_import_great_expectations() -> None:
    script = (
        "import sys, pandas as pd\n"
        "from scripts.pipeline.data import infer_schema\n"
        "from scripts.pipeline.suite import build_suite\n"
        "x = pd.DataFrame({'a': [1.0, 2.0]}); y = pd.Series(['p', 'q'], name='t')\n"
        "build_suite(x, infer_schema(x, y), name='s')\n"
        "assert 'great_expectations' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=ROOT)
