"""Feature drift against the stored reference: the service's bins, KS from the stored ECDF."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from scripts.monitor.drift_report import (
    drift_document,
    feature_drift,
    ks_against_reference,
    readable_bins,
    write_json,
)
from scripts.monitor.log_reader import ModelRows, Window
from scripts.pipeline.data import infer_schema
from scripts.pipeline.reference import ecdf_points, reference_statistics
from service.observe.drift import feature_bins, psi, shares


def training_frame(rng, size=2000) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": rng.normal(10, 2, size),
            "steps": rng.integers(0, 8, size).astype("float64"),  # many ties, like iris' 0.1 cm
            "colour": pd.array(
                rng.choice(["red", "green", "blue"], size, p=[0.5, 0.3, 0.2]), dtype="str"
            ),
        }
    )


@pytest.fixture(scope="module")
def reference() -> dict:
    training = training_frame(np.random.default_rng(0))
    schema = infer_schema(training, pd.Series(["a", "b"] * (len(training) // 2), name="y"))
    return reference_statistics(training, schema)


def test_the_stored_ecdf_is_exact_with_few_distinct_values_and_close_with_many():
    values = np.array([1.0, 1.0, 2.0, 5.0])
    assert ecdf_points(values, 1000) == {"values": [1.0, 2.0, 5.0], "shares": [0.5, 0.75, 1.0]}
    many = np.random.default_rng(1).normal(size=50_000)
    points = ecdf_points(many, 100)
    assert len(points["values"]) == 100 and points["shares"][-1] == 1.0
    exact = np.searchsorted(np.sort(many), points["values"], side="right") / len(many)
    assert np.allclose(exact, points["shares"])
    assert np.max(np.diff([0.0, *points["shares"]])) <= 0.01 + 1e-9


def test_ks_from_the_stored_ecdf_is_scipys_two_sample_test_on_the_training_rows():
    rng = np.random.default_rng(2)
    training = rng.integers(0, 30, 400) / 10  # ties on both sides
    live = rng.integers(2, 33, 250) / 10
    expected = stats.ks_2samp(live, training, method="asymp")
    statistic, pvalue = ks_against_reference(live, ecdf_points(training, 1000), len(training))
    assert statistic == pytest.approx(expected.statistic)
    assert pvalue == pytest.approx(expected.pvalue)


def test_tied_values_from_the_training_distribution_are_not_drift():
    # ks_1samp with a CDF interpolated through these points flags this sample (p < 1e-6).
    rng = np.random.default_rng(3)
    training = rng.integers(0, 8, 2000).astype(float)
    live = rng.integers(0, 8, 300).astype(float)
    _, pvalue = ks_against_reference(live, ecdf_points(training, 1000), len(training))
    assert pvalue > 0.01
    cdf = ecdf_points(training, 1000)
    interpolated = stats.ks_1samp(live, lambda x: np.interp(x, cdf["values"], cdf["shares"]))
    assert interpolated.pvalue < 1e-6


def test_only_the_shifted_feature_is_flagged(reference):
    live = training_frame(np.random.default_rng(4), size=300)
    live["x"] = live["x"] + 1.5
    drift = {feature.name: feature for feature in feature_drift(reference, live)}
    assert [name for name, feature in drift.items() if feature.drifted] == ["x"]
    assert drift["x"].psi > 0.2 and drift["x"].ks_pvalue < 1e-6
    assert drift["colour"].ks_pvalue is None and drift["colour"].ks_statistic is None


def test_psi_is_the_services_psi_over_the_services_bins(reference):
    live = training_frame(np.random.default_rng(5), size=200)
    drift = {feature.name: feature for feature in feature_drift(reference, live)}
    for bins in feature_bins(reference):
        values = live[bins.name].to_numpy(dtype=float if bins.kind == "numeric" else object)
        assert drift[bins.name].psi == pytest.approx(psi(shares(bins, values), bins.reference))


def test_a_category_shift_is_flagged_by_psi_alone(reference):
    live = training_frame(np.random.default_rng(6), size=300)
    live["colour"] = pd.array(["blue"] * 200 + ["red"] * 100, dtype="str")
    drift = {feature.name: feature for feature in feature_drift(reference, live)}
    assert drift["colour"].drifted and not drift["x"].drifted


def test_few_rows_raise_the_psi_a_feature_must_exceed(reference):
    # 100 rows of unchanged data, 300 times: the plain 0.2 threshold flags a few percent.
    values = []
    for seed in range(300):
        live = training_frame(np.random.default_rng(100 + seed), size=100)
        x = next(f for f in feature_drift(reference, live, ks_alpha=0.0) if f.name == "x")
        values.append((x.psi, x.drifted, x.psi_allowance))
    psis, drifted, allowance = map(np.array, zip(*values, strict=True))
    assert allowance[0] == pytest.approx(9 * (1 / 100 + 1 / 2000))
    assert np.mean(psis > 0.2) > 0.02
    assert np.mean(drifted) < 0.01


def test_a_reference_without_a_stored_ecdf_gives_psi_and_no_ks(reference):
    older = {
        name: {k: v for k, v in stats.items() if k != "cdf"} for name, stats in reference.items()
    }
    live = training_frame(np.random.default_rng(7), size=100)
    x = next(f for f in feature_drift(older, live) if f.name == "x")
    assert x.ks_pvalue is None and x.psi >= 0


def test_numeric_bins_are_named_by_their_range(reference):
    bins = next(b for b in feature_bins(reference) if b.name == "steps")
    names = readable_bins(bins)
    assert names[0].startswith("< ") and names[-2].startswith(">= ") and names[-1] == "missing"
    assert len(names) == len(bins.labels)


def test_drift_json_is_strict_json(tmp_path, reference):
    live = training_frame(np.random.default_rng(8), size=50)
    drift = feature_drift(reference, live)
    predictions = pd.DataFrame({"time": pd.to_datetime(["2026-11-25T16:00:00Z"] * 2, utc=True)})
    rows = ModelRows("m:1", Window.last_hours(0), predictions, pd.DataFrame(), 3)
    mix = pd.DataFrame({"live predictions": [1.0, np.nan]}, index=["a", "b"])
    live_metrics = {"labelled": 0, "accuracy": None, "heldout": {"accuracy": float("nan")}}
    path = write_json(tmp_path / "drift.json", drift_document(rows, drift, live_metrics, mix))
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    document = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in drift.json"))
    assert document["model"] == "m:1" and document["rows"] == 2 and document["unparsed_lines"] == 3
    assert document["window"]["first_row"] == "2026-11-25T16:00:00Z"
    assert set(document["features"]) == {"x", "steps", "colour"}
    assert document["prediction_mix"]["b"]["live predictions"] is None
