"""Reference statistics of the training features: the baseline that drift is measured against."""

from __future__ import annotations

import numpy as np
import pandas as pd

from service.model.schema import FeatureSchema
from service.observe.drift import numeric_bins, quantile_edges

BINS = 10
# The training ECDF is stored at up to this many points: exactly when a feature has no more
# distinct values, else within 1/CDF_POINTS of it, which a KS test cannot tell apart below about
# a million live rows.
CDF_POINTS = 1000


def reference_statistics(features: pd.DataFrame, schema: FeatureSchema) -> dict:
    """Return per-feature statistics: quantile bins and their shares, or category shares."""
    stats: dict[str, dict] = {}
    for feature in schema.features:
        column = features[feature.name]
        null_share = float(column.isna().mean())
        present = column.dropna()
        if feature.kind == "numeric":
            values = present.astype("float64").to_numpy()
            edges = quantile_edges(values, BINS)
            bins = max(len(edges) - 1, 1)
            # Counted by the service's own binning, so live and training shares match.
            counts = np.bincount(
                numeric_bins(feature.name, _unbinned(edges, bins)).bin_of(values), minlength=bins
            )[:bins]
            stats[feature.name] = {
                "kind": "numeric",
                "count": int(len(values)),
                "null_share": null_share,
                "mean": float(values.mean()),
                "std": float(values.std()),
                "min": float(values.min()),
                "max": float(values.max()),
                "bin_edges": [float(edge) for edge in edges],
                "bin_shares": [float(c) / max(len(values), 1) for c in counts],
                "cdf": ecdf_points(values, CDF_POINTS),
            }
        else:
            shares = present.astype(str).value_counts(normalize=True).sort_index()
            stats[feature.name] = {
                "kind": "categorical",
                "count": int(len(present)),
                "null_share": null_share,
                "category_shares": {str(k): float(v) for k, v in shares.items()},
            }
    return stats


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
