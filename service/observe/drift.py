"""Reference bins for drift: one binning function for the export, the service and the reports.

Each feature gets the bins its training values were counted into: the stored quantile bins of a
numeric feature (plus one for missing values), the training categories of a categorical one
(plus missing, and unseen for a category training never had). The export stores the shares
of the training rows per bin; the service counts live rows into the same bins, so a PSI over
Prometheus counters compares like with like.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

MISSING = "missing"
UNSEEN = "unseen"
OTHER = "other"
# More categories than this would make a Prometheus series each; the rarest share one bin. The
# default of params.yaml's drift_max_category_bins, which the reference stores per feature.
MAX_CATEGORY_BINS = 50
# Below this many rows a Python dict lookup beats pandas' vectorised one.
_SMALL_BATCH = 64


@dataclass(frozen=True)
class FeatureBins:
    """The bins of one feature: labels, training shares, and how a value finds its bin."""

    name: str
    kind: str  # "numeric" or "categorical"
    labels: list[str]
    reference: np.ndarray  # the training share of each bin; sums to 1
    inner_edges: np.ndarray | None = None  # numeric: edges between bins
    codes: dict[str, int] | None = None  # categorical: category to bin

    @property
    def missing_bin(self) -> int:
        return self.labels.index(MISSING)

    def bin_of(self, values: Any) -> np.ndarray:
        """Return the bin index of each value: the one binning function everyone uses."""
        if self.kind == "numeric":
            numbers = np.asarray(values, dtype=np.float64)[:, None]
            found = numeric_bin_indices(numbers, self.inner_edges[None, :])[:, 0]
            return np.where(found < 0, self.missing_bin, found)
        unseen = self.labels.index(UNSEEN)
        missing = self.missing_bin
        codes = self.codes
        if len(values) < _SMALL_BATCH:
            return np.fromiter(
                (
                    missing if value is None or value != value else codes.get(value, unseen)
                    for value in values
                ),
                dtype=np.intp,
                count=len(values),
            )
        series = pd.Series(values, dtype=object)
        found = pd.Index(list(codes)).get_indexer(series)
        bins = np.asarray([codes[c] for c in codes], dtype=np.intp)[np.maximum(found, 0)]
        bins = np.where(found < 0, unseen, bins)
        return np.where(series.isna().to_numpy(), missing, bins)


def numeric_bin_indices(values: np.ndarray, inner_edges: np.ndarray) -> np.ndarray:
    """Return the bin of each value of a rows x features matrix, -1 where it is missing.

    `inner_edges` is features x edges, padded with +inf where a feature has fewer bins. A value
    goes to bin i when it is at or above i inner edges: [a, b) for every bin but the last, as
    np.histogram counts the training values, and values outside the training range fall into
    the first or last bin. Counting many features in one call keeps a one-row request cheap.
    """
    found = (values[..., None] >= inner_edges).sum(axis=-1)
    return np.where(np.isnan(values), -1, found)


def padded_edges(features: list[FeatureBins]) -> np.ndarray:
    """Return the inner edges of numeric `features` as one matrix, padded with +inf."""
    width = max((len(f.inner_edges) for f in features), default=0)
    edges = np.full((len(features), width), np.inf)
    for row, feature in enumerate(features):
        edges[row, : len(feature.inner_edges)] = feature.inner_edges
    return edges


def numeric_bins(name: str, stats: dict) -> FeatureBins:
    edges = np.asarray(stats["bin_edges"], dtype=np.float64)
    present = 1.0 - float(stats["null_share"])
    shares = [share * present for share in stats["bin_shares"]]
    return FeatureBins(
        name=name,
        kind="numeric",
        labels=[f"b{i}" for i in range(len(shares))] + [MISSING],
        reference=np.asarray([*shares, float(stats["null_share"])]),
        inner_edges=edges[1:-1],
    )


def categorical_bins(name: str, stats: dict) -> FeatureBins:
    present = 1.0 - float(stats["null_share"])
    ranked = sorted(stats["category_shares"].items(), key=lambda item: (-item[1], item[0]))
    # Versions exported before the setting existed were counted with the default.
    max_bins = int(stats.get("max_bins", MAX_CATEGORY_BINS))
    kept, rest = ranked[: max_bins - 1], ranked[max_bins - 1 :]
    labels = [category for category, _ in kept]
    shares = [share * present for _, share in kept]
    codes = {category: position for position, category in enumerate(labels)}
    if rest:
        codes.update({category: len(labels) for category, _ in rest})
        labels.append(OTHER)
        shares.append(sum(share for _, share in rest) * present)
    labels += [MISSING, UNSEEN]
    shares += [float(stats["null_share"]), 0.0]
    return FeatureBins(name, "categorical", labels, np.asarray(shares), codes=codes)


def feature_bins(reference: Mapping[str, dict]) -> list[FeatureBins]:
    """Return the bins of every feature in the stored reference statistics, in their order."""
    return [
        numeric_bins(name, stats) if stats["kind"] == "numeric" else categorical_bins(name, stats)
        for name, stats in reference.items()
    ]


# The bins of what the model answers are kept as one more "feature" under this name.
PREDICTION = "prediction"


def prediction_bins(metrics: Mapping[str, Any]) -> FeatureBins | None:
    """Return the bins of the model's answers on its held-out rows (metrics.json's
    `prediction_reference`), or None for a version exported before it was recorded."""
    stats = metrics.get("prediction_reference")
    if not stats:
        return None
    if stats["kind"] == "numeric":
        return numeric_bins(PREDICTION, stats)
    return categorical_bins(PREDICTION, stats)


def quantile_edges(values: np.ndarray, bins: int) -> np.ndarray:
    """Return the edges of up to `bins` quantile bins; repeated quantiles are merged."""
    return np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)))


def shares(feature: FeatureBins, values: Any) -> np.ndarray:
    """Return the share of `values` in each bin of `feature` (zeros for no values)."""
    counts = np.bincount(feature.bin_of(values), minlength=len(feature.labels))
    total = counts.sum()
    return counts / total if total else counts.astype(np.float64)


def psi(live: np.ndarray, reference: np.ndarray, floor: float = 1e-4) -> float:
    """Return the population stability index of live shares against reference shares."""
    live = np.maximum(np.asarray(live, dtype=np.float64), floor)
    reference = np.maximum(np.asarray(reference, dtype=np.float64), floor)
    return float(np.sum((live - reference) * np.log(live / reference)))
