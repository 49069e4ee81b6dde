"""Feature drift of logged rows against the training reference: PSI, KS, and the verdict.

PSI uses the service's own bins (service/observe/drift.py), so this report and the Prometheus
PSI agree on what a bin is. The KS test compares the live values with the training ECDF the
export stores (`cdf` in reference.json), not with the training rows, which stay out of the
model entry.

When is a feature drifted? PSI of two samples of one distribution is not 0: it is about
(k - 1) (1/rows + 1/training rows) for k bins (a chi-square with k - 1 degrees of freedom over
the rows; with 10 bins and 100 rows, 0.09). A few hundred live rows would put unchanged
features near the usual 0.2 threshold, so a feature is drifted when its PSI is above
`psi_threshold` plus that allowance, or when the KS p-value is below `ks_alpha`. With the
plain 0.2, 100 unchanged rows were flagged 3.7% of the time, with the allowance 0.3%. Below about
six rows a bin PSI breaks down whatever the threshold: an empty bin alone adds about 0.7.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from scripts.monitor.log_reader import ModelRows, as_text
from service.observe.drift import FeatureBins, feature_bins, prediction_bins, psi, shares

PSI_THRESHOLD = 0.2
KS_ALPHA = 0.01


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's drift: bin shares live and in training, PSI, KS, and the verdict."""

    name: str
    kind: str
    rows: int
    bins: list[str]
    live_shares: np.ndarray
    reference_shares: np.ndarray
    psi: float
    psi_allowance: float  # what PSI shows with no drift at these sample sizes
    ks_statistic: float | None  # numeric features whose reference has a `cdf`
    ks_pvalue: float | None
    drifted: bool

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "psi": self.psi,
            "psi_allowance": self.psi_allowance,
            "ks_statistic": self.ks_statistic,
            "ks_pvalue": self.ks_pvalue,
            "drifted": self.drifted,
        }


def feature_drift(
    reference: dict,
    features: pd.DataFrame,
    psi_threshold: float = PSI_THRESHOLD,
    ks_alpha: float = KS_ALPHA,
) -> list[FeatureDrift]:
    """Return the drift of every feature of the stored reference, in its order."""
    return [
        _one_feature(bins, reference[bins.name], features[bins.name], psi_threshold, ks_alpha)
        for bins in feature_bins(reference)
    ]


def prediction_drift(
    metrics: dict, predictions: pd.Series, psi_threshold: float = PSI_THRESHOLD
) -> FeatureDrift | None:
    """Return how the live answers sit in the bins of the model's answers on its held-out
    rows (metrics.json's `prediction_reference`), or None for a version that lacks them.

    The same PSI (and, for a regressor's values, KS test) as a feature's: what the model
    answers moving is often the first sign, before any label comes back."""
    bins = prediction_bins(metrics)
    if bins is None:
        return None
    reference = metrics["prediction_reference"]
    values = (
        pd.to_numeric(predictions, errors="coerce")
        if bins.kind == "numeric"
        else pd.Series(as_text(predictions), dtype=object)
    )
    return _one_feature(bins, reference, values, psi_threshold, KS_ALPHA)


def _one_feature(
    bins: FeatureBins, stats: dict, column: pd.Series, psi_threshold: float, ks_alpha: float
) -> FeatureDrift:
    values = column.to_numpy(dtype=np.float64 if bins.kind == "numeric" else object)
    live = shares(bins, values)
    value = psi(live, bins.reference)
    allowance = psi_allowance(bins, len(values), stats.get("count"))
    ks_statistic = ks_pvalue = None
    if bins.kind == "numeric" and stats.get("cdf", {}).get("values"):
        present = values[~np.isnan(values)]
        if len(present):
            ks_statistic, ks_pvalue = ks_against_reference(present, stats["cdf"], stats["count"])
    drifted = value > psi_threshold + allowance or (ks_pvalue is not None and ks_pvalue < ks_alpha)
    return FeatureDrift(
        name=bins.name,
        kind=bins.kind,
        rows=len(values),
        bins=readable_bins(bins),
        live_shares=live,
        reference_shares=bins.reference,
        psi=value,
        psi_allowance=allowance,
        ks_statistic=ks_statistic,
        ks_pvalue=ks_pvalue,
        drifted=bool(drifted),
    )


def readable_bins(bins: FeatureBins) -> list[str]:
    """Return the bins' labels, numeric ones as the value range they hold instead of b0, b1."""
    if bins.kind != "numeric":
        return list(bins.labels)
    edges = [f"{edge:.4g}" for edge in bins.inner_edges]
    if not edges:
        return ["all", *bins.labels[1:]]
    ranges = [f"< {edges[0]}"]
    ranges += [f"[{low}, {high})" for low, high in zip(edges, edges[1:], strict=False)]
    return [*ranges, f">= {edges[-1]}", *bins.labels[len(edges) + 1 :]]


def psi_allowance(bins: FeatureBins, rows: int, reference_rows: int | None) -> float:
    """Return the PSI two samples of these sizes show on average when nothing changed."""
    if not rows:
        return 0.0
    filled = int(np.count_nonzero(bins.reference > 0))
    per_row = 1 / rows + (1 / reference_rows if reference_rows else 0.0)
    return max(filled - 1, 0) * per_row


def ks_against_reference(live: np.ndarray, cdf: dict, reference_rows: int) -> tuple[float, float]:
    """Return the two-sample KS statistic and p-value of `live` against the stored training ECDF.

    Two-sample, because the reference is itself a sample: against a one-sample test a training
    set of 120 rows would flag unchanged features. Both CDFs are step functions, so comparing
    them at every step of either finds the largest gap, ties and all (iris is measured to
    0.1 cm: `ks_1samp` with an interpolated CDF reads each tied value as a gap the size of its
    share). The p-value is scipy's asymptotic one, as `ks_2samp(method="asymp")` computes it.
    """
    live = np.sort(np.asarray(live, dtype=np.float64))
    steps = np.asarray(cdf["values"], dtype=np.float64)
    reference_share = np.asarray(cdf["shares"], dtype=np.float64)
    points = np.concatenate([live, steps])
    live_cdf = np.searchsorted(live, points, side="right") / len(live)
    below = np.searchsorted(steps, points, side="right") - 1
    reference_cdf = np.where(below >= 0, reference_share[np.maximum(below, 0)], 0.0)
    statistic = float(np.max(np.abs(live_cdf - reference_cdf)))
    effective = len(live) * reference_rows / (len(live) + reference_rows)
    return statistic, float(stats.kstwo.sf(statistic, np.round(effective)))


def drifted_names(drift: list[FeatureDrift]) -> list[str]:
    return [feature.name for feature in drift if feature.drifted]


def drift_table(drift: list[FeatureDrift]) -> pd.DataFrame:
    """Return one row per feature, most drifted first, for the notebook to show."""
    table = pd.DataFrame([{"feature": f.name, **f.to_dict()} for f in drift])
    return table.sort_values("psi", ascending=False).set_index("feature")


def bin_shares(feature: FeatureDrift) -> pd.DataFrame:
    """Return the live and training share of each bin that either fills."""
    frame = pd.DataFrame(
        {"live": feature.live_shares, "training": feature.reference_shares}, index=feature.bins
    )
    return frame[(frame["live"] > 0) | (frame["training"] > 0)]


def drift_document(
    rows: ModelRows,
    drift: list[FeatureDrift],
    live: dict,
    prediction_mix: pd.DataFrame,
    answers: FeatureDrift | None = None,
    estimated: dict | None = None,
) -> dict:
    """Return what drift.json holds: the window, per-feature drift, the live metrics and the
    label-free estimate beside them."""
    window, times = rows.window, rows.predictions["time"]
    return {
        "model": rows.model,
        "window": {
            "hours": window.hours,
            "start": _iso(window.start),
            "end": _iso(window.end),
            "first_row": _iso(times.iloc[0]),
            "last_row": _iso(times.iloc[-1]),
        },
        "rows": len(rows.predictions),
        "rejected_requests": len(rows.rejections),
        "features": {feature.name: feature.to_dict() for feature in drift},
        "drifted": drifted_names(drift),
        "live": live,
        "estimated": estimated,
        "prediction_mix": {
            name: {column: share for column, share in row.items()}
            for name, row in prediction_mix.to_dict(orient="index").items()
        },
        "prediction_drift": answers.to_dict() if answers is not None else None,
        "unparsed_lines": rows.unparsed_lines,
    }


def write_json(path: str | Path, document: dict) -> Path:
    """Write `document` as strict JSON (NaN and infinities as null); return the path."""
    path = Path(path)
    path.write_text(json.dumps(_finite(document), indent=2, allow_nan=False) + "\n")
    return path


def _finite(value):
    if isinstance(value, dict):
        return {str(key): _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _iso(stamp: pd.Timestamp | None) -> str | None:
    return None if stamp is None else stamp.isoformat().replace("+00:00", "Z")
