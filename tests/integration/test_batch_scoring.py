"""Batch scoring on the local engine: per-row verdicts from the scoring core, files in and out,
and the errors a user can cause (one line, no traceback, no output left behind)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import bentoml
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from support.batch_runs import run_batch

from scripts.batch.cli import main
from scripts.pipeline.params import PROJECT_ROOT
from service.model.store import load_model_version
from service.model.version import ModelStoreError, read_exported_model
from service.scoring.batch import score_chunk
from service.scoring.core import RowScores, Scorer
from service.scoring.predictor import PipelinePredictor

pytestmark = pytest.mark.integration

BETWEEN = "expect_column_values_to_be_between"
NOT_NULL = "expect_column_values_to_not_be_null"
TYPE_RULE = "expect_column_values_to_be_in_type_list"


@pytest.fixture(scope="module")
def version(iris_run):
    return load_model_version(iris_run.tag)


@pytest.fixture(scope="module")
def iris() -> pd.DataFrame:
    frame = pd.read_csv(PROJECT_ROOT / "data" / "iris.csv")
    frame.insert(0, "id", np.arange(1000, 1000 + len(frame)))
    return frame


def _rules(scores: RowScores) -> dict[int, list[tuple[str, str]]]:
    by_row: dict[int, list[tuple[str, str]]] = {}
    for failure in scores.failures:
        for row in failure.rows.tolist():
            by_row.setdefault(row, []).append((failure.expectation, failure.column))
    return by_row


def test_only_the_bad_rows_are_rejected_and_the_rest_predicted(version, iris):
    frame = iris.head(6).astype({"sepal_length_cm": object, "petal_width_cm": object})
    frame.loc[1, "sepal_length_cm"] = 50.0
    frame.loc[3, "petal_width_cm"] = None
    frame.loc[4, "sepal_length_cm"] = "long"
    scores = Scorer(version).score_rows(frame)
    assert scores.valid.tolist() == [True, False, True, False, False, True]
    assert _rules(scores) == {
        1: [(BETWEEN, "sepal_length_cm")],
        3: [(NOT_NULL, "petal_width_cm")],
        4: [(TYPE_RULE, "sepal_length_cm")],  # only the type: not also "must have a value"
    }
    good = iris.head(6).iloc[[0, 2, 5]][version.schema.names]
    labels, probabilities = PipelinePredictor(version.load_pipeline(), version.schema).predict(good)
    assert scores.labels.tolist() == labels.tolist()
    np.testing.assert_allclose(scores.probabilities, probabilities, atol=1e-5)


def test_every_rejected_row_is_listed_past_the_service_cap_of_20(version, iris):
    frame = iris.head(50).copy()
    frame["sepal_width_cm"] = frame["sepal_width_cm"].astype(float)
    frame.loc[5:34, "sepal_width_cm"] = 99.0
    scores = Scorer(version).score_rows(frame)
    (failure,) = scores.failures
    assert failure.rows.tolist() == list(range(5, 35))
    assert int(scores.valid.sum()) == 20 and len(scores.labels) == 20


def test_a_table_level_failure_rejects_every_row(version, iris):
    names = version.schema.names
    ordered = {
        "type": "expect_table_columns_to_match_ordered_list",
        "kwargs": {"column_list": list(reversed(names))},
    }
    suite = {**version.suite, "expectations": [*version.suite["expectations"], ordered]}
    scores = Scorer(dataclasses.replace(version, suite=suite)).score_rows(iris.head(4))
    assert not scores.valid.any() and len(scores.labels) == 0
    assert [(f.expectation, f.rows.tolist()) for f in scores.failures] == [
        ("expect_table_columns_to_match_ordered_list", [0, 1, 2, 3])
    ]


@pytest.mark.parametrize(("mostly", "rejected"), [(0.5, [2]), (0, [])])
def test_each_row_is_judged_as_if_sent_alone(version, iris, mostly, rejected):
    column = version.schema.names[0]
    between = {
        "type": BETWEEN,
        "kwargs": {"column": column, "min_value": 0, "max_value": 6, "mostly": mostly},
    }
    suite = {**version.suite, "expectations": [*version.suite["expectations"], between]}
    frame = iris.iloc[[0, 1, 120, 3]].reset_index(drop=True)  # row 2 is above 6
    assert frame[column].tolist()[2] > 6
    scores = Scorer(dataclasses.replace(version, suite=suite)).score_rows(frame)
    # The batch passes this expectation as a whole; a request holding row 2 alone would not.
    assert np.flatnonzero(~scores.valid).tolist() == rejected


def test_the_chunk_names_every_rule_a_row_broke_in_suite_order(version, iris):
    frame = iris.head(3).copy()
    frame.loc[1, "sepal_length_cm"] = -1.0
    frame.loc[1, "petal_length_cm"] = 99.0
    chunk = score_chunk(Scorer(version), frame)
    assert chunk.failed_expectations.tolist() == [f"{BETWEEN}; {BETWEEN}"]
    assert chunk.failed_columns.tolist() == ["sepal_length_cm; petal_length_cm"]


def test_an_exported_folder_reads_as_the_stored_version(version, tmp_path):
    folder = bentoml.models.export_model(version.tag, str(tmp_path / "model"), "folder")
    exported = read_exported_model(folder)
    assert (exported.tag, exported.schema, exported.suite) == (
        version.tag,
        version.schema,
        version.suite,
    )
    (tmp_path / "model" / "suite.json").write_text("{}")
    with pytest.raises(ModelStoreError, match=r"suite\.json has sha256"):
        read_exported_model(folder)


def test_the_batch_core_imports_neither_bentoml_nor_spark():
    script = (
        "import sys, service.scoring.batch\n"
        "assert 'bentoml' not in sys.modules, 'bentoml imported'\n"
        "assert 'pyspark' not in sys.modules, 'pyspark imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_csv_in_parquet_out_with_rejects_beside_and_a_summary(iris_run, iris, tmp_path):
    frame = iris.astype({"petal_length_cm": object})
    frame.loc[[4, 9], "petal_length_cm"] = [70.0, "n/a"]  # "n/a" reads as a gap, as in pandas
    frame.to_csv(tmp_path / "in.csv", index=False)
    done = run_batch(
        "--input", str(tmp_path / "in.csv"), "--output", str(tmp_path / "out.parquet"),
        "--model", iris_run.tag, "--keep", "id", "species", "--batch-rows", "40",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    scored = pq.read_table(tmp_path / "out.parquet").to_pandas()
    rejects = pq.read_table(tmp_path / "out.rejects.parquet").to_pandas()
    # CSV has no types: kept columns come back as the text they were.
    assert scored["id"].tolist() == [str(i) for i in frame["id"] if i not in (1004, 1009)]
    assert scored["species"].tolist() == [
        s for i, s in zip(frame["id"], frame["species"], strict=True) if i not in (1004, 1009)
    ]
    assert rejects[["id", "failed_expectations", "failed_columns"]].values.tolist() == [
        ["1004", BETWEEN, "petal_length_cm"],
        ["1009", NOT_NULL, "petal_length_cm"],
    ]
    assert set(scored["model_version"]) == {iris_run.tag}
    accuracy = (scored["prediction"] == scored["species"]).mean()
    assert accuracy > 0.9
    probabilities = scored[[c for c in scored.columns if c.startswith("probability_")]]
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert "read               150 rows" in done.stdout
    assert "scored             148 rows" in done.stdout
    assert f"-> {tmp_path / 'out.rejects.parquet'}" in done.stdout
    assert f"1  {BETWEEN} on petal_length_cm" in done.stdout
    assert f"1  {NOT_NULL} on petal_length_cm" in done.stdout


def test_threads_and_chunk_sizes_do_not_change_the_output(iris_run, iris, tmp_path):
    big = pd.concat([iris] * 20, ignore_index=True).assign(id=lambda f: np.arange(len(f)))
    big.loc[::7, "sepal_width_cm"] = 99.0
    big.to_parquet(tmp_path / "in.parquet")
    outputs = []
    for workers, rows in (("1", "100000"), ("3", "64")):
        out = tmp_path / f"out-{workers}.parquet"
        assert main(
            ["--input", str(tmp_path / "in.parquet"), "--output", str(out),
             "--model", iris_run.tag, "--keep", "id", "--workers", workers, "--batch-rows", rows]
        ) == 0  # fmt: skip
        outputs.append(
            (
                pq.read_table(out).to_pandas(),
                pq.read_table(out.with_name(f"out-{workers}.rejects.parquet")).to_pandas(),
            )
        )
    (scored, rejects), (scored_again, rejects_again) = outputs
    pd.testing.assert_frame_equal(scored, scored_again)
    pd.testing.assert_frame_equal(rejects, rejects_again)
    assert rejects["id"].tolist() == list(range(0, len(big), 7))
    assert scored["id"].is_monotonic_increasing and len(scored) + len(rejects) == len(big)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", "{tmp}/nope.csv"], "input {tmp}/nope.csv does not exist"),
        (["--model", "nope:1"], "no model 'nope:1' in the BentoML model store"),
        (["--output", "{tmp}/out.json"], "output {tmp}/out.json has no known extension"),
        (["--keep", "customer"], "lacks the --keep column(s) 'customer'"),
        (["--input", "{tmp}/short.csv"], "lacks the model's feature column(s) 'petal_width_cm'"),
        (["--output", "{tmp}/none/out.csv"], "output folder {tmp}/none does not exist"),
    ],
)
def test_a_user_error_is_one_line_without_traceback_or_output(
    iris_run, iris, tmp_path, args, message
):
    iris.to_csv(tmp_path / "in.csv", index=False)
    iris.drop(columns="petal_width_cm").to_csv(tmp_path / "short.csv", index=False)
    base = {
        "--input": f"{tmp_path}/in.csv",
        "--output": f"{tmp_path}/out.csv",
        "--model": iris_run.tag,
    }
    given = dict(zip(args[::2], args[1::2], strict=True))
    argv = [
        item
        for key, value in {**base, **given}.items()
        for item in (key, value.format(tmp=tmp_path))
    ]
    before = sorted(p.name for p in tmp_path.iterdir())
    done = run_batch(*argv)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("batch failed: ")
    assert message.format(tmp=tmp_path) in done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_part_that_breaks_mid_run_leaves_no_output(iris_run, iris, tmp_path):
    parts = tmp_path / "parts"
    parts.mkdir()
    iris.to_csv(parts / "part-0.csv", index=False)
    (parts / "part-1.csv").write_text(
        ",".join(iris.columns) + "\n" + "1,2,3\n"
    )  # a line with too few fields
    done = run_batch(
        "--input", str(parts), "--output", str(tmp_path / "out.csv"), "--model", iris_run.tag
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"input {parts / 'part-1.csv'} line 2 has 3 fields where its header has 6" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parts"]
