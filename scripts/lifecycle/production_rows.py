"""Labelled production rows from the prediction log: what a model answered, joined with the
ground truth /feedback sent for it, ready to train on or to judge two models with."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from scripts.monitor.log_reader import LogRecords, Window, feature_frame, with_labels
from service.errors import UserError
from service.model.version import ModelVersion

TIME = "logged_at"


@dataclass(frozen=True)
class RowCounts:
    """What the log held, and why each row was or was not taken."""

    labelled: int  # the version's accepted rows with a label: the ones taken
    unlabelled: int  # the version's accepted rows no feedback labelled
    outside_window: int  # the version's accepted rows older than the window
    rejected_requests: int  # the version's requests its suite rejected: never answered
    other_versions: int  # rows another model version answered

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ProductionRows:
    """A version's labelled production rows, oldest first: features, the target, `logged_at`."""

    rows: pd.DataFrame
    counts: RowCounts

    def split_recent(self, share: float, minimum: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Return (older, recent): the most recent `share` of the rows, at least `minimum` of
        them, held apart so that a model trained on the older ones can be judged on them."""
        if not 0 < share < 1:
            raise UserError(f"retrain.recent_share must be between 0 and 1, not {share}")
        recent = max(int(round(len(self.rows) * share)), minimum)
        if recent >= len(self.rows):
            raise UserError(
                f"{len(self.rows)} labelled production row(s) are too few: {recent} are held back "
                "to judge both models on, which leaves none to train on. Send more /feedback, "
                "or lower retrain.min_recent_rows"
            )
        return self.rows.iloc[:-recent], self.rows.iloc[-recent:]


def labelled_rows(log: LogRecords, version: ModelVersion, window: Window) -> ProductionRows:
    """Return the rows `version` answered in `window` that /feedback labelled (the last label of
    a row wins), with the counts of everything left out."""
    schema = version.schema
    predictions = log.predictions
    ours = predictions[predictions["model"] == version.tag]
    rejections = log.rejections
    inside = ours[window.contains(ours["time"])]
    joined = with_labels(inside.reset_index(drop=True), log.feedback)
    labelled = joined[joined["label"].notna()].reset_index(drop=True)
    counts = RowCounts(
        labelled=len(labelled),
        unlabelled=len(joined) - len(labelled),
        outside_window=len(ours) - len(inside),
        rejected_requests=int(
            ((rejections["model"] == version.tag) & window.contains(rejections["time"])).sum()
        ),
        other_versions=len(predictions) - len(ours),
    )
    if labelled.empty:
        raise UserError(
            f"{log.folder} holds no labelled rows of {version.tag} in {window.describe()} "
            f"({counts.unlabelled} unlabelled, {counts.outside_window} older, "
            f"{counts.other_versions} of other versions); send labels to /feedback first"
        )
    rows = feature_frame(labelled, schema)
    rows[schema.target] = _target(labelled["label"], schema.task)
    rows[TIME] = labelled["time"].to_numpy()
    return ProductionRows(rows, counts)


def _target(labels: pd.Series, task: str) -> pd.Series:
    """Return the labels as a target column: numbers for a regressor; a classifier's as sent
    (JSON keeps integer classes integers), so they read back as the training file's did."""
    if task == "regression":
        return pd.to_numeric(labels, errors="raise").astype("float64")
    return labels.astype(object)
