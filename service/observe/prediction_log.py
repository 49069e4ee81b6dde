"""The prediction log: one strict JSON line per scored record, rejected request and feedback.

`bentoml.monitor` (1.4.40) mixes two monitors' files, logs numpy values as strings and NaN as
bare `NaN`, and ignores the log config it is given, so the service keeps a log of its own. A
request only appends to a bounded in-memory queue (rows, not requests, are counted, so a few
10,000-row batches cannot hold gigabytes: drained_queue.py); a thread turns entries into lines
and writes them. When the queue is full the records are dropped and counted in /metrics: a slow
disk slows the log, never a request. Each worker writes its own file, rotated by size; the
oldest rotated files go when the folder is over its total cap. A full disk fails the entries
that do not fit (counted as `failed`), leaves no part of a line behind, and the log writes again
as soon as there is room: every record the log is handed is `written`, `dropped` or `failed`.

Line format (read by scripts/monitor/log_reader.py and notebooks/04_monitor.ipynb):
  {"kind": "prediction", "time", "request_id", "model", "endpoint", "row", "features",
   "prediction", "probabilities", ["candidate": {"model", "prediction", "probabilities"}]}
  {"kind": "rejection", "time", "request_id", "model", "endpoint", "error", "failures"}
  {"kind": "feedback", "time", "request_id", "model", "row", "label"}
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import orjson

from service.observe.drained_queue import DrainedQueue
from service.observe.metrics import service_metrics
from service.scoring.predictor import Batch
from service.settings import PredictionLogSettings
from service.validation.results import Rejection

logger = logging.getLogger("bentoml.model_service")

FILE_PREFIX = "predictions-"
FILE_SUFFIX = ".jsonl"
LOG_GLOB = f"{FILE_PREFIX}*{FILE_SUFFIX}"  # every worker's files, active and rotated
# orjson writes NaN and infinities as null: strict JSON without a pass over every value.
_DUMPS_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE
_ERROR_LOG_SECONDS = 60.0
DRAIN_SECONDS = 0.25  # how often the writer takes the queue (drained_queue.py says why)


@dataclass(frozen=True)
class Answer:
    """What one model version answered for a batch, in its classes' order."""

    model: str
    labels: np.ndarray
    probabilities: np.ndarray
    classes: list[str]


class PredictionLog:
    def __init__(self, settings: PredictionLogSettings, features: list[str]) -> None:
        self.settings = settings
        self.features = features
        self._queue = DrainedQueue(
            "prediction-log", settings.max_queued_rows, DRAIN_SECONDS, self._drain
        )
        self._fd: int | None = None  # unbuffered: a failed write leaves nothing to flush later
        self._size = 0
        self._last_error_log = float("-inf")
        self._worker = ""
        self._active = settings.folder

    # -- the request path: append and return --------------------------------------------------

    def scored(
        self,
        request_id: str,
        endpoint: str,
        columns: Batch,
        answer: Answer,
        candidate: Answer | None = None,
    ) -> None:
        if self._sampled_out():
            return
        entry = ("prediction", time.time(), request_id, endpoint, columns, answer, candidate)
        self._put(len(answer.labels), entry)

    def rejected(self, request_id: str, endpoint: str, model: str, rejection: Rejection) -> None:
        if self._sampled_out():
            return
        self._put(1, ("rejection", time.time(), request_id, endpoint, model, rejection))

    def feedback(self, items: list[dict]) -> None:
        """Append ground truth: dicts of request_id, model, row and label."""
        self._put(len(items), ("feedback", time.time(), items))

    def _sampled_out(self) -> bool:
        rate = self.settings.sample_rate
        return rate < 1.0 and random.random() >= rate

    def _put(self, rows: int, entry: tuple) -> None:
        if not self._queue.put(rows, entry):
            service_metrics().prediction_log_records.labels("dropped").inc(rows)

    # -- the writer thread -------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer; call it in the worker process, where the file is named by pid."""
        self.settings.folder.mkdir(parents=True, exist_ok=True)
        self._worker = f"{FILE_PREFIX}{socket.gethostname()}-{os.getpid()}"
        self._active = self.settings.folder / f"{self._worker}{FILE_SUFFIX}"
        self._queue.start()

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop; entries that arrive afterwards are dropped."""
        if self._queue.close(timeout):
            self._close_file()  # the writer is done with it

    def queued_rows(self) -> int:
        return self._queue.queued_rows()

    def _drain(self, entries: list[tuple[int, tuple]]) -> None:
        done = {"written": 0, "failed": 0}
        for rows, entry in entries:
            try:
                self._write(b"".join(self._lines(entry)))
                done["written"] += rows
            except Exception as error:  # noqa: BLE001 - a full disk must not stop the service
                done["failed"] += rows
                self._log_error(error)
                continue
            if self._size >= self.settings.file_bytes:
                try:
                    self._rotate()
                except OSError as error:  # the lines are written; the next entry tries again
                    self._log_error(error)
        metrics = service_metrics().prediction_log_records
        for result, rows in done.items():
            if rows:
                metrics.labels(result).inc(rows)

    def _write(self, data: bytes) -> None:
        """Append `data` whole or not at all.

        A full disk can take part of a write: the file is cut back to where it was, so a reader
        never meets half a line, and closed, so the next entry opens it afresh and is written as
        soon as the disk has room again.
        """
        if self._fd is None:
            self._fd = os.open(self._active, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self._size = os.fstat(self._fd).st_size
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)
            self._close_file()
            raise
        self._size += len(data)

    def _close_file(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def _rotate(self) -> None:
        self._close_file()
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        self._active.rename(self._active.with_name(f"{self._worker}-{stamp}{FILE_SUFFIX}"))
        self._enforce_total()

    def _enforce_total(self) -> None:
        files = [
            (path.stat().st_mtime, path.stat().st_size, path)
            for path in self.settings.folder.glob(LOG_GLOB)
        ]
        total = sum(size for _, size, _ in files)
        # Only rotated files (a stamp after the worker's name) are closed; oldest go first.
        rotated = sorted(f for f in files if f[2].name.endswith(f"Z{FILE_SUFFIX}"))
        for _, size, path in rotated:
            if total <= self.settings.total_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size

    def _log_error(self, error: Exception) -> None:
        now = time.monotonic()
        if now - self._last_error_log >= _ERROR_LOG_SECONDS:
            self._last_error_log = now
            logger.error("prediction log: cannot write to %s: %s", self.settings.folder, error)

    def _lines(self, entry: tuple) -> Iterator[bytes]:
        kind, stamp = entry[0], _iso(entry[1])
        if kind == "prediction":
            yield from self._prediction_lines(stamp, *entry[2:])
        elif kind == "rejection":
            request_id, endpoint, model, rejection = entry[2:]
            yield _dumps(
                {
                    "kind": "rejection",
                    "time": stamp,
                    "request_id": request_id,
                    "model": model,
                    "endpoint": endpoint,
                    "error": rejection.error,
                    "failures": [
                        {"column": f.column, "expectation": f.expectation, "rows": f.rows}
                        for f in rejection.failures
                    ],
                }
            )
        else:
            for item in entry[2]:
                yield _dumps({"kind": "feedback", "time": stamp, **item})

    def _prediction_lines(
        self,
        stamp: str,
        request_id: str,
        endpoint: str,
        columns: Batch,
        answer: Answer,
        candidate: Answer | None,
    ) -> Iterator[bytes]:
        values = {name: _plain(columns[name]) for name in self.features}
        labels = answer.labels.tolist()
        probabilities = answer.probabilities.tolist()
        if candidate is not None:
            candidate_labels = candidate.labels.tolist()
            candidate_probabilities = candidate.probabilities.tolist()
        for row, label in enumerate(labels):
            line = {
                "kind": "prediction",
                "time": stamp,
                "request_id": request_id,
                "model": answer.model,
                "endpoint": endpoint,
                "row": row,
                "features": {name: column[row] for name, column in values.items()},
                "prediction": label,
                "probabilities": dict(zip(answer.classes, probabilities[row], strict=True)),
            }
            if candidate is not None:
                line["candidate"] = {
                    "model": candidate.model,
                    "prediction": candidate_labels[row],
                    "probabilities": dict(
                        zip(candidate.classes, candidate_probabilities[row], strict=True)
                    ),
                }
            yield _dumps(line)


def _dumps(document: dict) -> bytes:
    return orjson.dumps(document, option=_DUMPS_OPTIONS)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def _plain(column) -> list:
    """Return a column as JSON values: numbers, strings, and None for every kind of missing."""
    values = column.tolist() if hasattr(column, "tolist") else list(column)
    return [None if _missing(value) else value for value in values]


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value)
