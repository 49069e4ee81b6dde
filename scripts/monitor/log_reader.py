"""Reading the prediction log: one model's rows in a time window, with their ground truth joined.

The service writes one file per worker (`predictions-*.jsonl`, rotated by size) in
`PREDICTION_LOG_DIR`; service/observe/prediction_log.py documents the line format. A line cut
off by a crash, or anything else that is not one strict JSON record, is counted and skipped:
the report says how many, and a damaged file never stops it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
import pandas as pd

from service.errors import UserError
from service.model.schema import FeatureSchema
from service.observe.prediction_log import LOG_GLOB

PREDICTION, REJECTION, FEEDBACK = "prediction", "rejection", "feedback"
# The keys a record of each kind must carry for the report to use it.
REQUIRED = {
    PREDICTION: ("time", "request_id", "model", "row", "features", "prediction"),
    REJECTION: ("time", "request_id", "model"),
    FEEDBACK: ("time", "request_id", "row", "label"),
}
# Prediction keys kept as columns; features and probabilities stay dicts until asked for.
PREDICTION_COLUMNS = ("time", "request_id", "model", "endpoint", "row", "prediction")


@dataclass(frozen=True)
class LogRecords:
    """Every record of a log folder, by kind, ordered by time; and what could not be read."""

    folder: Path
    files: int
    predictions: pd.DataFrame  # PREDICTION_COLUMNS, features, probabilities
    rejections: pd.DataFrame  # time, request_id, model, endpoint, error, failures
    feedback: pd.DataFrame  # time, request_id, row, label
    unparsed_lines: int


@dataclass(frozen=True)
class Window:
    """The time span a report covers; no bounds for the whole log."""

    hours: float | None
    start: pd.Timestamp | None
    end: pd.Timestamp | None

    @classmethod
    def last_hours(cls, hours: float, now: datetime | None = None) -> Window:
        """Return the `hours` before `now`; 0 (or less) means the whole log."""
        if not hours or hours <= 0:
            return cls(None, None, None)
        end = pd.Timestamp(now or datetime.now(UTC))
        return cls(float(hours), end - timedelta(hours=hours), end)

    def contains(self, times: pd.Series) -> pd.Series:
        inside = pd.Series(True, index=times.index)
        if self.start is not None:
            inside &= times >= self.start
        if self.end is not None:
            inside &= times <= self.end
        return inside

    def describe(self) -> str:
        return "the whole log" if self.hours is None else f"the last {self.hours:g} hours"


@dataclass(frozen=True)
class ModelRows:
    """One model's records in a window: predictions with `label` (None without feedback)."""

    model: str
    window: Window
    predictions: pd.DataFrame
    rejections: pd.DataFrame
    unparsed_lines: int

    @property
    def labelled(self) -> pd.DataFrame:
        return self.predictions[self.predictions["label"].notna()]


def read_log(folder: str | Path) -> LogRecords:
    """Return every record in the folder's `predictions-*.jsonl` files, each kind by time."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise UserError(
            f"prediction log folder {folder} does not exist; pass -p log_dir=DIR, the folder the "
            "service's PREDICTION_LOG_DIR names"
        )
    files = sorted(folder.glob(LOG_GLOB))
    if not files:
        raise UserError(
            f"{folder} holds no {LOG_GLOB} files; is it the service's PREDICTION_LOG_DIR, and was "
            "the service started with it set?"
        )
    records: dict[str, list[dict]] = {PREDICTION: [], REJECTION: [], FEEDBACK: []}
    unparsed = 0
    for path in files:
        with open(path, "rb") as handle:
            for line in handle:
                if not line.strip():
                    continue
                record = _record(line)
                if record is None:
                    unparsed += 1
                else:
                    records[record["kind"]].append(record)
    predictions = _frame(records[PREDICTION], [*PREDICTION_COLUMNS, "features", "probabilities"])
    rejections = _frame(
        records[REJECTION], ["time", "request_id", "model", "endpoint", "error", "failures"]
    )
    feedback = _frame(records[FEEDBACK], ["time", "request_id", "row", "label"])
    return LogRecords(folder, len(files), predictions, rejections, feedback, unparsed)


def _record(line: bytes) -> dict | None:
    """Return the record on a line, or None when it is no strict JSON record of a known kind."""
    try:
        record = orjson.loads(line)  # rejects NaN and Infinity, which are not JSON
    except orjson.JSONDecodeError:
        return None
    if not isinstance(record, dict) or record.get("kind") not in REQUIRED:
        return None
    if any(record.get(key) is None for key in REQUIRED[record["kind"]]):
        return None
    if "row" in REQUIRED[record["kind"]] and type(record["row"]) is not int:
        return None
    try:
        record["time"] = datetime.fromisoformat(record["time"])
    except (TypeError, ValueError):
        return None
    if record["time"].tzinfo is None:
        return None
    return record


def _frame(records: list[dict], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(
        [{name: record.get(name) for name in columns} for record in records], columns=columns
    )
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    if "row" in frame:
        frame["row"] = frame["row"].astype("int64")
    # Stable, so the lines of one request keep their order within one timestamp.
    return frame.sort_values("time", kind="stable", ignore_index=True)


def model_rows(log: LogRecords, model: str, window: Window) -> ModelRows:
    """Return `model`'s records in `window`, ground truth joined by (request_id, row).

    Raise, naming what the log holds instead, when the model has no prediction in the window.
    """
    predictions = log.predictions
    if predictions.empty:
        raise UserError(
            f"{log.folder} holds no prediction records ({log.files} file(s), "
            f"{len(log.rejections)} rejection(s), {log.unparsed_lines} unreadable line(s)); "
            "send the service some requests first"
        )
    ours = predictions[predictions["model"] == model]
    if ours.empty:
        raise UserError(
            f"{log.folder} has no predictions by {model}; it has predictions by "
            f"{_counted(predictions['model'])}. Pass -p model_tag=TAG for one of those"
        )
    inside = ours[window.contains(ours["time"])]
    if inside.empty:
        raise UserError(
            f"{model} has no predictions in {window.describe()} (since {window.start}); its "
            f"{len(ours)} prediction(s) run from {ours['time'].iloc[0]} to "
            f"{ours['time'].iloc[-1]}. Widen -p window_hours=N, or 0 for the whole log"
        )
    rejections = log.rejections
    rejections = rejections[
        (rejections["model"] == model) & window.contains(rejections["time"])
    ].reset_index(drop=True)
    return ModelRows(
        model,
        window,
        with_labels(inside.reset_index(drop=True), log.feedback),
        rejections,
        log.unparsed_lines,
    )


def with_labels(predictions: pd.DataFrame, feedback: pd.DataFrame) -> pd.DataFrame:
    """Return `predictions` with a `label` column: the last feedback for each (request_id, row)."""
    latest = feedback.drop_duplicates(["request_id", "row"], keep="last")[
        ["request_id", "row", "label"]
    ]
    joined = predictions.merge(latest, on=["request_id", "row"], how="left", validate="m:1")
    joined["label"] = joined["label"].astype(object).where(joined["label"].notna(), None)
    return joined


def feature_frame(predictions: pd.DataFrame, schema: FeatureSchema) -> pd.DataFrame:
    """Return the logged features as columns in schema order: numbers as float64 (NaN where
    missing), categories as objects (None where missing)."""
    frame = pd.DataFrame.from_records(list(predictions["features"]), columns=schema.names)
    for feature in schema.features:
        column = frame[feature.name]
        if feature.kind == "numeric":
            frame[feature.name] = pd.to_numeric(column, errors="coerce").astype("float64")
        else:
            frame[feature.name] = column.astype(object).where(column.notna(), None)
    return frame


def as_text(values: pd.Series) -> np.ndarray:
    """Return labels as text: a model's classes may be integers, and JSON keeps them so."""
    return values.map(str).to_numpy(dtype=object)


def _counted(values: pd.Series) -> str:
    return ", ".join(f"{name} ({count})" for name, count in Counter(values).most_common())
