"""Reference bins: the export's shares and the service's counts come from one binning."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scripts.pipeline.data import infer_schema
from scripts.pipeline.reference import reference_statistics
from service.observe.drift import (
    MAX_CATEGORY_BINS,
    MISSING,
    UNSEEN,
    categorical_bins,
    feature_bins,
    psi,
    shares,
)


@pytest.fixture
def training() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    size = 1000
    x = rng.normal(10, 2, size)
    x[rng.choice(size, 50, replace=False)] = np.nan
    colour = rng.choice(["red", "green", "blue"], size, p=[0.5, 0.3, 0.2]).astype(object)
    colour[:40] = None
    return pd.DataFrame({"x": x, "colour": pd.array(colour, dtype="str")})


def bins_of(training):
    schema = infer_schema(training, pd.Series(["a", "b"] * (len(training) // 2), name="y"))
    return {b.name: b for b in feature_bins(reference_statistics(training, schema))}


def test_training_data_has_zero_psi_against_its_own_reference(training):
    for feature in bins_of(training).values():
        values = training[feature.name].to_numpy(
            dtype=object if feature.kind != "numeric" else float
        )
        assert feature.reference.sum() == pytest.approx(1.0)
        assert psi(shares(feature, values), feature.reference) == pytest.approx(0.0, abs=1e-9)


def test_missing_unseen_and_out_of_range_values_find_their_bins(training):
    bins = bins_of(training)
    x, colour = bins["x"], bins["colour"]
    found = x.bin_of(np.array([np.nan, -1e9, 1e9]))
    assert [x.labels[i] for i in found] == [MISSING, "b0", x.labels[-2]]
    found = colour.bin_of(["red", None, "purple", float("nan")])
    assert [colour.labels[i] for i in found] == ["red", MISSING, UNSEEN, MISSING]


def test_small_and_large_batches_bin_categories_alike(training):
    colour = bins_of(training)["colour"]
    values = list(training["colour"].astype(object).where(training["colour"].notna(), None))
    large = colour.bin_of(values)
    small = np.concatenate([colour.bin_of(values[i : i + 10]) for i in range(0, len(values), 10)])
    assert large.tolist() == small.tolist()


def test_psi_of_a_90_10_split_against_50_50():
    assert psi(np.array([0.9, 0.1]), np.array([0.5, 0.5])) == pytest.approx(0.879, abs=1e-3)


def test_many_categories_share_one_other_bin():
    stats = {
        "null_share": 0.0,
        "category_shares": {f"c{i:03d}": 1 / 200 for i in range(200)},
    }
    feature = categorical_bins("id", stats)
    assert len(feature.labels) == MAX_CATEGORY_BINS + 2  # kept, other, missing, unseen
    assert feature.reference.sum() == pytest.approx(1.0)
    assert feature.labels[feature.bin_of(["c199"])[0]] == "other"


def test_counting_all_features_at_once_agrees_with_each_features_bins(training):
    from service.observe.monitoring import DriftCounter

    bins = list(bins_of(training).values())
    counter = DriftCounter(bins)
    columns = {
        "x": training["x"].to_numpy(),
        "colour": training["colour"]
        .astype(object)
        .where(training["colour"].notna(), None)
        .to_numpy(),
    }
    counter.count(columns)
    for row in range(5):  # the one-row path too
        counter.count({name: values[row : row + 1] for name, values in columns.items()})
    expected = np.concatenate(
        [
            np.bincount(f.bin_of(columns[f.name]), minlength=len(f.labels))
            + np.bincount(f.bin_of(columns[f.name][:5]), minlength=len(f.labels))
            for f in bins
        ]
    )
    assert counter.counts.tolist() == expected.tolist()
