"""Scoring one chunk of a batch file: the scoring core's per-row verdicts as output columns.

The local engine's threads and Spark's executors both run this, so the two engines agree by
construction. It imports neither BentoML nor the web stack, and Spark only on an executor
(`spark_partitions`): an executor needs `service/` and the model's exported folder, no more.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from service.errors import UserError
from service.model.version import ModelVersion, read_exported_model
from service.scoring.core import Scorer

PREDICTION = "prediction"
PROBABILITY_PREFIX = "probability_"
MODEL_VERSION = "model_version"
FAILED_EXPECTATIONS = "failed_expectations"
FAILED_COLUMNS = "failed_columns"
# What a rejected row gets beside the columns it carries, in order, all text. Both engines
# write these from `rejected_columns`: a new column is one name here and one entry there.
REJECTED_COLUMNS = (FAILED_EXPECTATIONS, FAILED_COLUMNS)
# A table-level rule names no column; the rejects say so in the column list.
TABLE = "(table)"
SEPARATOR = "; "
# What pandas.read_csv reads as missing, and so what training, the suite and the service's CSV
# endpoint took for a gap; a test fails if pandas' list changes.
CSV_NULLS = (
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "<NA>",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "None",
    "n/a",
    "nan",
    "null",
)


@dataclass(frozen=True)
class Layout:
    """The columns of both outputs, fixed before the first row is read."""

    tag: str
    features: tuple[str, ...]
    keep: tuple[str, ...]
    classes: tuple[str, ...]  # none for a regressor, whose prediction is a float
    integer_labels: bool
    regression: bool = False

    @classmethod
    def of(cls, version: ModelVersion, keep: Iterable[str] = ()) -> Layout:
        """Return the layout for `version`, carrying the `keep` columns into both outputs."""
        schema = version.schema
        layout = cls(
            tag=version.tag,
            features=tuple(schema.names),
            keep=tuple(dict.fromkeys(keep)),
            classes=tuple(str(label) for label in schema.classes),
            integer_labels=schema.label_kind == "integer",
            regression=schema.is_regression,
        )
        carried = len(layout.carried)
        added = {*layout.scored_columns[carried:], *layout.rejects_columns[carried:]}
        clashes = [name for name in layout.carried if name in added]
        if clashes:
            raise UserError(
                f"column(s) {', '.join(map(repr, clashes))} of the input would clash with the "
                f"columns batch scoring adds ({', '.join(sorted(added))}); rename them"
            )
        return layout

    @property
    def carried(self) -> tuple[str, ...]:
        """The input columns both outputs carry as read: the kept ones, then the features."""
        return self.keep + tuple(name for name in self.features if name not in self.keep)

    @property
    def probability_columns(self) -> tuple[str, ...]:
        return tuple(f"{PROBABILITY_PREFIX}{label}" for label in self.classes)

    @property
    def scored_columns(self) -> tuple[str, ...]:
        return (*self.carried, PREDICTION, *self.probability_columns, MODEL_VERSION)

    @property
    def rejects_columns(self) -> tuple[str, ...]:
        return (*self.carried, *REJECTED_COLUMNS, MODEL_VERSION)


@dataclass(frozen=True)
class Chunk:
    """One chunk scored: which rows are valid, their predictions, why the others are not."""

    valid: np.ndarray
    labels: np.ndarray  # one per valid row
    probabilities: np.ndarray  # float64, one row per valid row, columns in class order
    failed_expectations: np.ndarray  # one "; "-joined string per rejected row
    failed_columns: np.ndarray  # the columns, in the same order

    @property
    def all_valid(self) -> bool:
        return len(self.failed_expectations) == 0


def score_chunk(scorer: Scorer, frame: pd.DataFrame, *, predict: bool = True) -> Chunk:
    """Return the verdict on every row of `frame` and, unless told not to, the valid ones'
    predictions."""
    scores = scorer.score_rows(frame, predict=predict)
    rejected = np.flatnonzero(~scores.valid)
    expectations: list[list[str]] = [[] for _ in rejected]
    columns: list[list[str]] = [[] for _ in rejected]
    if len(rejected):
        slot = np.full(len(frame), -1, dtype=np.intp)
        slot[rejected] = np.arange(len(rejected))
        for failure in scores.failures:
            column = failure.column if failure.column is not None else TABLE
            for position in slot[failure.rows].tolist():
                expectations[position].append(failure.expectation)
                columns[position].append(column)
    return Chunk(
        valid=scores.valid,
        labels=scores.labels,
        probabilities=np.asarray(scores.probabilities, dtype=np.float64),
        failed_expectations=_joined(expectations),
        failed_columns=_joined(columns),
    )


def rejected_columns(chunk: Chunk) -> dict[str, np.ndarray]:
    """Return what each rejected row of `chunk` gets beside its carried columns, by name, in
    REJECTED_COLUMNS order: the one writer of a rejected row for both engines."""
    return {FAILED_EXPECTATIONS: chunk.failed_expectations, FAILED_COLUMNS: chunk.failed_columns}


def _joined(lists: list[list[str]]) -> np.ndarray:
    joined = np.empty(len(lists), dtype=object)
    joined[:] = [SEPARATOR.join(items) for items in lists]
    return joined


def rule_counts(pairs: Iterable[tuple[str, str, int]]) -> Counter[tuple[str, str]]:
    """Return rejected rows per (expectation, column) from (expectations, columns, rows) triples.

    A row that breaks two rules counts once for each.
    """
    counts: Counter[tuple[str, str]] = Counter()
    for expectations, columns, rows in pairs:
        for rule in zip(expectations.split(SEPARATOR), columns.split(SEPARATOR), strict=True):
            counts[rule] += rows
    return counts


def with_csv_nulls(frame: pd.DataFrame, names: Iterable[str]) -> pd.DataFrame:
    """Return `frame` with the text pandas.read_csv takes for a gap (CSV_NULLS) as null."""
    nulls = list(CSV_NULLS)
    frame = frame.copy(deep=False)
    for name in names:
        column = frame[name]
        frame[name] = column.where(~column.isin(nulls))
    return frame


def scored_frame(frame: pd.DataFrame, chunk: Chunk, layout: Layout) -> pd.DataFrame:
    """Return the valid rows' carried columns, prediction and probabilities (not the version)."""
    out = frame.loc[:, list(layout.carried)]
    if not chunk.all_valid:
        out = out[chunk.valid]
    out = out.copy(deep=False)
    out[PREDICTION] = chunk.labels
    for position, name in enumerate(layout.probability_columns):
        out[name] = chunk.probabilities[:, position]
    return out


def rejects_frame(frame: pd.DataFrame, chunk: Chunk, layout: Layout) -> pd.DataFrame:
    """Return the rejected rows' carried columns and the rules they broke (not the version)."""
    out = frame.loc[~chunk.valid, list(layout.carried)].copy(deep=False)
    for name, values in rejected_columns(chunk).items():
        out[name] = values
    return out


# One scorer per Python worker and model folder: Spark reuses workers across tasks.
_SCORERS: dict[str, Scorer] = {}


def _worker_scorer(model_dir: str, layout: Layout) -> Scorer:
    from pyspark import SparkFiles

    folder = SparkFiles.get(model_dir)
    scorer = _SCORERS.get(folder)
    if scorer is None:
        scorer = _SCORERS[folder] = Scorer(read_exported_model(folder))
    if scorer.version.tag != layout.tag:
        raise UserError(f"executor loaded {scorer.version.tag}, the driver planned {layout.tag}")
    return scorer


# The Spark plan numbers the rows (monotonically_increasing_id) in this column before scoring.
ROW_ID = "__batch_row_id__"


class RejectsParam:
    """A Spark accumulator of rejected rows: a list of `rejects_frame`s, each led by ROW_ID."""

    def zero(self, value: list) -> list:
        return []

    def addInPlace(self, first: list, second: list) -> list:  # noqa: N802 - Spark's name
        first.extend(second)
        return first


def spark_scored(
    frames: Iterator[pd.DataFrame],
    *,
    model_dir: str,
    layout: Layout,
    csv: bool,
    rows: Any,
    rejected: Any,
    rejects: Any,
    cap: int,
) -> Iterator[pd.DataFrame]:
    """Score one Spark partition (mapInPandas): the valid rows with their predictions.

    `rows`, `rejected` and `rejects` are Spark accumulators: the rows read, the rows rejected
    and, up to `cap` a task, the rejected rows themselves (`rejects_frame`, led by ROW_ID), which
    the driver writes without reading or judging the input again. The model comes from
    SparkFiles, read once per worker.
    """
    scorer = _worker_scorer(model_dir, layout)
    kept = 0
    for frame in frames:
        if csv:
            frame = with_csv_nulls(frame, layout.carried)
        chunk = score_chunk(scorer, frame)
        rows.add(len(frame))
        if not chunk.all_valid:
            rejected.add(len(chunk.failed_expectations))
            if kept < cap:
                found = rejects_frame(frame, chunk, layout).iloc[: cap - kept]
                found.insert(0, ROW_ID, frame[ROW_ID].to_numpy()[~chunk.valid][: len(found)])
                kept += len(found)
                rejects.add([found])
        yield scored_frame(frame, chunk, layout)


def spark_rejects(
    frames: Iterator[pd.DataFrame], *, model_dir: str, layout: Layout, csv: bool
) -> Iterator[pd.DataFrame]:
    """Judge one Spark partition again, without predicting: the rejected rows and their rules.

    Only when the rejects were too many to send to the driver.
    """
    scorer = _worker_scorer(model_dir, layout)
    for frame in frames:
        if csv:
            frame = with_csv_nulls(frame, layout.carried)
        chunk = score_chunk(scorer, frame, predict=False)
        if not chunk.all_valid:
            yield rejects_frame(frame, chunk, layout)
