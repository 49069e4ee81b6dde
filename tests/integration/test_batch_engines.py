"""Batch scoring through both engines: the local one and Spark (local[2], one session for the
module) give identical outputs, reject the same rows for the same rules, and predict what the
running service answers for the same records."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import requests
from support.datasets import mixed_frame

from scripts.batch.cli import main
from scripts.batch.spark import parquet_schema
from scripts.pipeline.params import PROJECT_ROOT
from scripts.tools.harness.bento_process import BentoServer
from service.model.store import load_model_version
from service.scoring.predictor import PipelinePredictor

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("spark")]

BETWEEN = "expect_column_values_to_be_between"
NOT_NULL = "expect_column_values_to_not_be_null"
IN_SET = "expect_column_values_to_be_in_set"
TYPE_RULE = "expect_column_values_to_be_in_type_list"


def _iris_with_bad_rows() -> tuple[pd.DataFrame, list[list]]:
    frame = pd.read_csv(PROJECT_ROOT / "data" / "iris.csv").astype(
        {"sepal_length_cm": object, "sepal_width_cm": object, "petal_width_cm": object}
    )
    frame.insert(0, "id", np.arange(1000, 1000 + len(frame)))
    frame.loc[3, "sepal_length_cm"] = 50.0
    frame.loc[7, "petal_width_cm"] = None
    frame.loc[11, "sepal_width_cm"] = "wide"
    frame.loc[15, ["sepal_length_cm", "petal_length_cm"]] = [-1.0, 99.0]
    expected = [
        [1003, BETWEEN, "sepal_length_cm"],
        [1007, NOT_NULL, "petal_width_cm"],
        [1011, TYPE_RULE, "sepal_width_cm"],
        [1015, f"{BETWEEN}; {BETWEEN}", "sepal_length_cm; petal_length_cm"],
    ]
    return frame, expected


def _read(path) -> pd.DataFrame:
    """Return one output, a file (local engine) or a folder of parts (Spark), as pandas reads it."""
    parts = sorted(path.glob("part-*")) if path.is_dir() else [path]
    if path.suffix == ".parquet":
        return pd.concat([pd.read_parquet(part) for part in parts], ignore_index=True)
    return pd.concat([pd.read_csv(part) for part in parts], ignore_index=True)


def _both_engines(source, out_dir, model: str, keep: list[str], suffix: str) -> dict:
    outputs = {}
    for engine in ("local", "spark"):
        out = out_dir / f"{engine}{suffix}"
        argv = ["--input", str(source), "--output", str(out), "--model", model,
                "--keep", *keep, "--engine", engine]  # fmt: skip
        assert main(argv) == 0
        outputs[engine] = (_read(out), _read(out_dir / f"{engine}.rejects{suffix}"))
    return outputs


@pytest.fixture(scope="module")
def iris_csv_outputs(iris_run, tmp_path_factory):
    folder = tmp_path_factory.mktemp("iris-batch")
    frame, expected = _iris_with_bad_rows()
    frame.to_csv(folder / "in.csv", index=False)
    return _both_engines(
        folder / "in.csv", folder, iris_run.tag, ["id", "species"], ".csv"
    ), expected


def test_both_engines_write_identical_csv_and_reject_the_same_rows_for_the_same_rules(
    iris_csv_outputs,
):
    outputs, expected = iris_csv_outputs
    (scored, rejects), (spark_scored, spark_rejects) = outputs["local"], outputs["spark"]
    pd.testing.assert_frame_equal(scored, spark_scored)
    pd.testing.assert_frame_equal(rejects, spark_rejects)
    assert rejects[["id", "failed_expectations", "failed_columns"]].values.tolist() == expected
    assert len(scored) == 146 and set(scored["id"]).isdisjoint(rejects["id"])
    assert (scored["prediction"] == scored["species"]).mean() > 0.9


@pytest.mark.parametrize("to_driver", [200_000, 0], ids=["rejects-from-driver", "rejects-rejudged"])
def test_both_engines_write_identical_parquet(iris_run, tmp_path, monkeypatch, to_driver):
    # Past REJECTS_TO_DRIVER the Spark engine judges every row again instead of writing the
    # rejected rows the tasks sent to the driver.
    monkeypatch.setattr("scripts.batch.spark.REJECTS_TO_DRIVER", to_driver)
    frame, _ = _iris_with_bad_rows()
    frame.loc[11, "sepal_width_cm"] = 44.0  # Parquet holds numbers in a number column
    frame = frame.astype(
        {"sepal_length_cm": float, "sepal_width_cm": float, "petal_width_cm": float}
    )
    frame.to_parquet(tmp_path / "in.parquet")
    outputs = _both_engines(tmp_path / "in.parquet", tmp_path, iris_run.tag, ["id"], ".parquet")
    (scored, rejects), (spark_scored, spark_rejects) = outputs["local"], outputs["spark"]
    pd.testing.assert_frame_equal(scored, spark_scored)
    pd.testing.assert_frame_equal(rejects, spark_rejects)
    assert scored.dtypes["id"] == np.int64 and scored.dtypes["probability_setosa"] == np.float64
    assert rejects["id"].tolist() == [1003, 1007, 1011, 1015]
    for engine in ("local", "spark"):
        # The gap in row 1007 is written as a null, not a NaN (pandas reads both as NaN).
        written = pq.read_table(tmp_path / f"{engine}.rejects.parquet")
        assert written.column("petal_width_cm").null_count == 1


def _records(frame: pd.DataFrame) -> list[dict]:
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]


def test_batch_predictions_equal_what_the_running_service_answers(
    iris_run, iris_csv_outputs, tmp_path
):
    outputs, _ = iris_csv_outputs
    scored, rejects = outputs["spark"]
    raw, _ = _iris_with_bad_rows()
    names = load_model_version(iris_run.tag).schema.names
    with BentoServer({"MODEL_TAG": iris_run.tag}, tmp_path / "serve.log") as server:
        answer = requests.post(
            f"{server.url}/predict", json={"records": _records(scored[names])}, timeout=60
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["predictions"] == scored["prediction"].tolist()
        for label in ("setosa", "versicolor", "virginica"):
            served = [row[label] for row in body["probabilities"]]
            assert served == scored[f"probability_{label}"].tolist()
        # Each rejected row, sent alone, is refused for the rules the batch named.
        for _, row in rejects.iterrows():
            record = raw.loc[raw["id"] == row["id"], names]
            refused = requests.post(
                f"{server.url}/predict", json={"records": _records(record)}, timeout=60
            )
            assert refused.status_code == 400, refused.text
            named = sorted((f["expectation"], f["column"]) for f in refused.json()["failures"])
            batch = zip(
                row["failed_expectations"].split("; "),
                row["failed_columns"].split("; "),
                strict=True,
            )
            assert named == sorted(batch)


def test_the_mixed_dataset_goes_through_spark_as_through_the_local_engine(mixed_run, tmp_path):
    frame = mixed_frame(rows=60, seed=3).astype({"age": object})
    frame.insert(0, "customer id", np.arange(len(frame)))
    frame.loc[2, "city"] = "atlantis"
    frame.loc[5, "age"] = "old"
    frame.loc[8, "plan"] = None
    frame.to_csv(tmp_path / "in.csv", index=False)
    keep = ["customer id", "churned"]
    outputs = _both_engines(tmp_path / "in.csv", tmp_path, mixed_run.tag, keep, ".csv")
    (scored, rejects), (spark_scored, spark_rejects) = outputs["local"], outputs["spark"]
    pd.testing.assert_frame_equal(scored, spark_scored)
    pd.testing.assert_frame_equal(rejects, spark_rejects)
    assert rejects[["customer id", "failed_expectations", "failed_columns"]].values.tolist() == [
        [2, IN_SET, "city"],
        [5, TYPE_RULE, "age"],
        [8, NOT_NULL, "plan"],
    ]
    # Integer labels stay integers; gaps in "age" and "city" were scored, not rejected.
    assert scored["prediction"].dtype == np.int64
    assert set(scored["prediction"]) <= {0, 1}
    assert scored["age"].isna().any() and scored["city"].isna().any()
    version = load_model_version(mixed_run.tag)
    features = pd.read_csv(tmp_path / "in.csv", dtype={"city": "str", "plan": "str"})
    features = features[~features["customer id"].isin([2, 5, 8])][version.schema.names]
    labels, probabilities = PipelinePredictor(version.load_pipeline(), version.schema).predict(
        features.astype({"age": float})
    )
    assert spark_scored["prediction"].tolist() == labels.tolist()
    np.testing.assert_allclose(
        spark_scored[["probability_0", "probability_1"]], probabilities, atol=1e-5
    )


def test_a_spark_run_missing_a_feature_column_is_one_line_and_writes_nothing(
    iris_run, tmp_path, capsys
):
    frame, _ = _iris_with_bad_rows()
    frame.drop(columns="petal_width_cm").to_csv(tmp_path / "in.csv", index=False)
    argv = ["--input", str(tmp_path / "in.csv"), "--output", str(tmp_path / "out.parquet"),
            "--model", iris_run.tag, "--engine", "spark"]  # fmt: skip
    assert main(argv) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("batch failed: input ") and "'petal_width_cm'" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_a_local_parquet_schema_is_read_from_its_footer_as_spark_would_infer_it(spark, tmp_path):
    frame = pd.DataFrame(
        {
            "id": np.arange(4, dtype=np.int64),
            "small": np.arange(4, dtype=np.int8),
            "count": np.array([1, 2, 3, 4], dtype=np.int32),
            "ratio": [0.5, None, 1.5, 2.0],
            "flag": [True, False, True, False],
            "colour name": ["red", None, "blue", "red"],
        }
    )
    frame.to_parquet(tmp_path / "simple.parquet")
    inferred = spark.read.parquet(str(tmp_path / "simple.parquet")).schema
    assert parquet_schema(str(tmp_path / "simple.parquet")) == inferred
    # A type the footer mapping leaves alone goes back to Spark's own inference.
    frame.assign(day=pd.to_datetime("2026-01-01").date()).to_parquet(tmp_path / "dated.parquet")
    assert parquet_schema(str(tmp_path / "dated.parquet")) is None
    assert parquet_schema("hdfs://cluster/rows.parquet") is None
