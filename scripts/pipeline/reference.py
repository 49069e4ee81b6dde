"""Reference statistics of the training features: the baseline that drift is measured against."""

from __future__ import annotations

import numpy as np
import pandas as pd

from service.errors import UserError
from service.model.schema import FeatureSchema
from service.observe.drift import MAX_CATEGORY_BINS, numeric_bins, quantile_edges

# The defaults of params.yaml's drift_bins and drift_cdf_points.
BINS = 10
# The training ECDF is stored at up to this many points: exactly when a feature has no more
# distinct values, else within 1/CDF_POINTS of it, which a KS test cannot tell apart below about
# a million live rows.
CDF_POINTS = 1000


def check_drift_settings(bins: object, cdf_points: object, max_category_bins: object) -> None:
    """Raise when a drift setting is not a whole number it can work with."""
    # Two is the least that means anything: one bin has a PSI of zero whatever comes in, a
    # one-point ECDF has no steps, and one category bin would be "other" alone.
    for name, value in (
        ("drift_bins", bins),
        ("drift_cdf_points", cdf_points),
        ("drift_max_category_bins", max_category_bins),
    ):
        if type(value) is not int or value < 2:
            raise UserError(f"{name} must be a whole number of at least 2, not {value!r}")


def reference_statistics(
    features: pd.DataFrame,
    schema: FeatureSchema,
    bins: int = BINS,
    cdf_points: int = CDF_POINTS,
    max_category_bins: int = MAX_CATEGORY_BINS,
) -> dict:
    """Return per-feature statistics: up to `bins` quantile bins and their shares and the ECDF
    at up to `cdf_points` points, or category shares and how many of them live drift counts
    apart (`max_category_bins`, the rarest sharing one bin)."""
    check_drift_settings(bins, cdf_points, max_category_bins)
    stats: dict[str, dict] = {}
    for feature in schema.features:
        column = features[feature.name]
        null_share = float(column.isna().mean())
        present = column.dropna()
        if feature.kind == "numeric":
            values = present.astype("float64").to_numpy()
            stats[feature.name] = numeric_statistics(values, null_share, bins, cdf_points)
        else:
            shares = present.astype(str).value_counts(normalize=True).sort_index()
            stats[feature.name] = {
                "kind": "categorical",
                "count": int(len(present)),
                "null_share": null_share,
                "category_shares": {str(k): float(v) for k, v in shares.items()},
                "max_bins": max_category_bins,
            }
    return stats


def numeric_statistics(
    values: np.ndarray, null_share: float, bins: int = BINS, cdf_points: int = CDF_POINTS
) -> dict:
    """Return the statistics of one numeric column's present values: moments, quantile bins
    with their shares (counted by the service's own binning), and the ECDF."""
    edges = quantile_edges(values, bins)
    found = max(len(edges) - 1, 1)
    # Counted by the service's own binning, so live and training shares match.
    counts = np.bincount(numeric_bins("", _unbinned(edges, found)).bin_of(values), minlength=found)[
        :found
    ]
    return {
        "kind": "numeric",
        "count": int(len(values)),
        "null_share": null_share,
        "mean": float(values.mean()),
        "std": float(values.std()),
        "min": float(values.min()),
        "max": float(values.max()),
        "bin_edges": [float(edge) for edge in edges],
        "bin_shares": [float(c) / max(len(values), 1) for c in counts],
        "cdf": ecdf_points(values, cdf_points),
    }


def prediction_reference(predicted: np.ndarray, classes: list, bins: int = BINS) -> dict:
    """Return what the model answered on the held-out rows, binned as live answers are counted:
    the share of each class (every class, predicted or not), or a regressor's values in
    quantile bins. The baseline of prediction drift."""
    if not classes:
        return numeric_statistics(np.asarray(predicted, dtype=np.float64), 0.0, bins)
    names = np.asarray(predicted).astype(str)
    total = max(len(names), 1)
    return {
        "kind": "categorical",
        "count": int(len(names)),
        "null_share": 0.0,
        "category_shares": {str(c): float(np.sum(names == str(c))) / total for c in classes},
        # One bin per class: none shares the "other" bin.
        "max_bins": len(classes) + 1,
    }


def ecdf_points(values: np.ndarray, points: int) -> dict:
    """Return the empirical CDF of `values` as `values` and the share at or below each.

    The quantile bins are too coarse for a KS test (ten steps), and the rows themselves stay out
    of the model entry; this keeps the steps of the ECDF, every one when there are at most
    `points` distinct values, else the first value past each 1/points step of the share.
    """
    if not len(values):
        return {"values": [], "shares": []}
    distinct, counts = np.unique(values, return_counts=True)
    cumulative = np.cumsum(counts) / len(values)
    if len(distinct) > points:
        steps = np.linspace(1 / points, 1, points)
        keep = np.unique(np.searchsorted(cumulative, steps - 1e-12))
        distinct, cumulative = distinct[keep], cumulative[keep]
    return {"values": distinct.tolist(), "shares": cumulative.tolist()}


def _unbinned(edges: np.ndarray, bins: int) -> dict:
    """Return numeric statistics with these edges and no shares yet, for counting into them."""
    return {"bin_edges": edges.tolist(), "bin_shares": [0.0] * bins, "null_share": 0.0}
