"""The drift settings of params.yaml reach the reference statistics, and bad ones stop the run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scripts.pipeline.data import infer_schema
from scripts.pipeline.reference import reference_statistics
from service.errors import UserError
from service.observe.drift import OTHER, feature_bins


@pytest.fixture
def table() -> tuple[pd.DataFrame, object]:
    rng = np.random.default_rng(1)
    size = 3000
    features = pd.DataFrame(
        {
            "x": rng.normal(0, 1, size),
            "shop": pd.array(rng.choice([f"s{i:02d}" for i in range(30)], size), dtype="str"),
        }
    )
    labels = pd.Series(rng.choice(["a", "b"], size), name="y")
    return features, infer_schema(features, labels)


def test_bins_cdf_points_and_category_bins_are_the_ones_asked_for(table):
    features, schema = table
    reference = reference_statistics(features, schema, bins=4, cdf_points=50, max_category_bins=10)
    assert len(reference["x"]["bin_shares"]) == 4
    assert len(reference["x"]["cdf"]["values"]) == 50
    assert reference["shop"]["max_bins"] == 10
    bins = {b.name: b for b in feature_bins(reference)}
    # Nine categories kept, the other 21 in one bin, then missing and unseen.
    assert len(bins["shop"].labels) == 12 and OTHER in bins["shop"].labels
    assert len(bins["x"].labels) == 5  # four bins and missing


def test_the_defaults_are_ten_bins_a_thousand_points_and_fifty_categories(table):
    features, schema = table
    reference = reference_statistics(features, schema)
    assert len(reference["x"]["bin_shares"]) == 10
    assert len(reference["x"]["cdf"]["values"]) == 1000
    assert reference["shop"]["max_bins"] == 50
    assert OTHER not in next(b for b in feature_bins(reference) if b.name == "shop").labels


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("bins", 1),
        ("bins", 2.5),
        ("cdf_points", 0),
        ("cdf_points", "many"),
        ("max_category_bins", 1),
        ("max_category_bins", True),
    ],
)
def test_a_setting_that_is_not_a_whole_number_of_at_least_two_is_refused(table, setting, value):
    features, schema = table
    with pytest.raises(UserError, match=f"drift_{setting} must be a whole number"):
        reference_statistics(features, schema, **{setting: value})
