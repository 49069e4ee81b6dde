"""Batch scoring's plumbing without a model: formats, paths, the rule counts (the output pair's
commit is in test_output_pair.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from pandas._libs.parsers import STR_NA_VALUES

from scripts.batch.files import default_rejects, format_of, input_parts
from service.errors import UserError
from service.model.schema import Feature, FeatureSchema
from service.scoring.batch import CSV_NULLS, SEPARATOR, Layout, rule_counts


def test_csv_nulls_are_exactly_what_pandas_read_csv_takes_for_a_gap():
    # Training, the suite and the service's CSV endpoint read CSV with pandas' defaults.
    assert set(CSV_NULLS) == set(STR_NA_VALUES)


@pytest.mark.parametrize(
    ("name", "fmt"), [("a.csv", "csv"), ("a.CSV", "csv"), ("a.parquet", "parquet")]
)
def test_the_extension_picks_the_format(tmp_path, name, fmt):
    assert format_of(tmp_path / name, role="output") == fmt


def test_an_unknown_extension_is_named_with_the_fix(tmp_path):
    with pytest.raises(
        UserError,
        match=r"output .*scores\.json has no known extension; name it .csv or .parquet",
    ):
        format_of(tmp_path / "scores.json", role="output")


def test_a_folder_of_parts_skips_markers_and_checksums(tmp_path):
    folder = tmp_path / "scores"
    folder.mkdir()
    for name in ["part-1.parquet", "part-0.parquet", "_SUCCESS", ".part-0.parquet.crc"]:
        (folder / name).write_bytes(b"")
    fmt, parts = input_parts(folder)
    assert fmt == "parquet"
    assert [part.name for part in parts] == ["part-0.parquet", "part-1.parquet"]


def test_a_folder_of_mixed_parts_is_refused(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "a.csv").write_text("x\n1\n")
    (folder / "b.parquet").write_bytes(b"")
    with pytest.raises(UserError, match="must hold parts of one format"):
        input_parts(folder)


def test_a_missing_input_is_named(tmp_path):
    with pytest.raises(UserError, match=r"input .*nope\.csv does not exist"):
        input_parts(tmp_path / "nope.csv")


def test_rejects_go_beside_the_output_by_default(tmp_path):
    assert default_rejects(tmp_path / "scores.parquet") == tmp_path / "scores.rejects.parquet"
    assert default_rejects(tmp_path / "out.csv") == tmp_path / "out.rejects.csv"


def test_a_row_breaking_two_rules_counts_once_for_each():
    counts = rule_counts(
        [
            (f"between{SEPARATOR}in_set", f"age{SEPARATOR}city", 3),
            ("between", "age", 2),
        ]
    )
    assert counts == {("between", "age"): 5, ("in_set", "city"): 3}


def _version(*names: str) -> SimpleNamespace:
    features = [Feature(name, "numeric", "float64", False) for name in names]
    return SimpleNamespace(tag="m:1", schema=FeatureSchema(features, "label", ["a", "b"], "string"))


def test_the_layout_carries_kept_columns_first_and_each_column_once():
    layout = Layout.of(_version("x", "y"), ["id", "y", "id"])
    assert layout.carried == ("id", "y", "x")
    assert layout.scored_columns == (
        "id",
        "y",
        "x",
        "prediction",
        "probability_a",
        "probability_b",
        "model_version",
    )
    assert layout.rejects_columns == (
        "id",
        "y",
        "x",
        "failed_expectations",
        "failed_columns",
        "model_version",
    )


def test_a_kept_column_named_like_an_added_one_is_refused():
    with pytest.raises(UserError, match="'prediction' of the input would clash"):
        Layout.of(_version("x"), ["prediction"])
