"""Reference statistics of the training features: the baseline that drift is measured against."""

from __future__ import annotations

import numpy as np
import pandas as pd

from service.drift import numeric_bins, quantile_edges
from service.schema import FeatureSchema

BINS = 10


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


def _unbinned(edges: np.ndarray, bins: int) -> dict:
    """Return numeric statistics with these edges and no shares yet, for counting into them."""
    return {"bin_edges": edges.tolist(), "bin_shares": [0.0] * bins, "null_share": 0.0}
