"""The local batch engine: pyarrow streams the input in chunks, threads score them in order.

Memory holds a few chunks at a time, whatever the file's size. Each thread runs the one scoring
core (`service/scoring/batch.py`); ONNX Runtime releases the GIL while it predicts, which is
most of the work, so N threads keep N cores busy.
"""

from __future__ import annotations

import csv
import os
import re
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from scripts.batch.files import Outputs, Tally
from scripts.batch.output_pair import LocalPaths, OutputPair
from service.errors import UserError
from service.model.version import ModelVersion
from service.scoring.batch import (
    CSV_NULLS,
    FAILED_COLUMNS,
    FAILED_EXPECTATIONS,
    MODEL_VERSION,
    PREDICTION,
    REJECTED_COLUMNS,
    Chunk,
    Layout,
    rejected_columns,
    rule_counts,
    score_chunk,
)
from service.scoring.core import Scorer

# Rows per chunk: large enough that per-chunk costs vanish, small enough to stream.
BATCH_ROWS = 100_000


def score_files(
    parts: list[Path],
    input_format: str,
    outputs: Outputs,
    version: ModelVersion,
    *,
    keep: list[str],
    workers: int,
    batch_rows: int = BATCH_ROWS,
    started: float | None = None,
) -> Tally:
    """Score the input files into both outputs, written under hidden names and moved in as a
    pair once both are whole (`OutputPair`).

    `started` (a perf_counter reading) is when the command began, for the start-up time.
    """
    started = time.perf_counter() if started is None else started
    source = InputFiles(parts, input_format)
    layout = Layout.of(version, keep)
    check_columns(
        source.schema.names, layout, str(parts[0] if len(parts) == 1 else parts[0].parent)
    )
    scored_schema, rejects_schema = output_schemas(source.schema, layout)
    scorer = Scorer(version)
    startup = time.perf_counter() - started
    pair = OutputPair(str(outputs.scored), str(outputs.rejects), LocalPaths())
    notes = pair.prepare()
    try:
        # The scored output's file first: OutputPair relies on that order.
        scored = Writer(pair.staged[0], outputs.scored_format, scored_schema, outputs.scored)
        try:
            rejects = Writer(
                pair.staged[1], outputs.rejects_format, rejects_schema, outputs.rejects
            )
        except BaseException:
            scored.abandon()
            raise
        try:
            tally = score_local(
                source, scorer, layout, scored, rejects, workers=workers, batch_rows=batch_rows
            )
        except BaseException:
            scored.abandon()
            rejects.abandon()
            raise
        scored.close()
        rejects.close()
        notes += pair.commit()
    except BaseException as error:
        pair.discard(error)
        raise
    tally.engine = f"local, {workers} thread(s)"
    tally.startup = startup
    tally.notes = notes
    return tally


class InputFiles:
    """The input's parts, read one chunk at a time in file order.

    Parquet goes through `ParquetFile.iter_batches` without pre-buffering: pyarrow's dataset
    scanner read whole files ahead (500 MB of a 15M-row file), where this holds one row group.
    CSV is read as text, with pandas' null markers as null: CSV carries no types, so one value
    that is not a number rejects its row instead of failing the read, and the outputs carry the
    text as it was.
    """

    def __init__(self, parts: list[Path], fmt: str) -> None:
        self.parts = parts
        self.fmt = fmt
        if fmt == "parquet":
            try:
                self.schema = pq.read_schema(parts[0])
            except (pa.ArrowInvalid, OSError) as error:
                raise UserError(f"input {parts[0]} is not readable Parquet: {_first_line(error)}")
            return
        self._first_csv = _csv_dataset(parts[0])
        self.schema = self._first_csv.schema

    def batches(self, columns: list[str], batch_rows: int) -> Iterator[pa.RecordBatch]:
        """Yield the `columns` of every row, `batch_rows` at a time, in file order."""
        if self.fmt == "csv":
            yield from self._csv_batches(columns, batch_rows)
            return
        part = self.parts[0]
        try:
            expected = [self.schema.field(name).type for name in columns]
            for part in self.parts:
                reader = pq.ParquetFile(part, pre_buffer=False)
                names = reader.schema_arrow.names
                found = [
                    reader.schema_arrow.field(name).type if name in names else None
                    for name in columns
                ]
                if found != expected:
                    raise UserError(
                        f"input part {part} does not have the columns and types of "
                        f"{self.parts[0].name}; a folder of parts needs one schema"
                    )
                yield from reader.iter_batches(batch_size=batch_rows, columns=columns)
        except (pa.ArrowInvalid, OSError) as error:
            raise UserError(f"input {part} cannot be read: {_first_line(error)}")

    def _csv_batches(self, columns: list[str], batch_rows: int) -> Iterator[pa.RecordBatch]:
        # One part at a time, each typed by its own header, so an error names its part.
        for part in self.parts:
            dataset = self._first_csv if part == self.parts[0] else _csv_dataset(part)
            missing = [name for name in columns if name not in dataset.schema.names]
            if missing:
                raise UserError(
                    f"input part {part} lacks the column(s) {', '.join(map(repr, missing))} "
                    f"that {self.parts[0].name} has; a folder of parts needs one header"
                )
            try:
                yield from dataset.to_batches(columns=columns, batch_size=batch_rows)
            except (pa.ArrowInvalid, OSError) as error:
                raise _csv_error(part, error) from None


def _csv_dataset(path: Path) -> ds.Dataset:
    header = _csv_header(path)
    convert = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in header},
        null_values=list(CSV_NULLS),
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    read = pacsv.ReadOptions(block_size=16 << 20)
    csv_format = ds.CsvFileFormat(read_options=read, convert_options=convert)
    try:
        # Reads the first block: a bad line in it fails here.
        return ds.dataset(str(path), format=csv_format)
    except (pa.ArrowInvalid, OSError) as error:
        raise _csv_error(path, error) from None


# pyarrow counts the header as row 1, so its row number is the file's line number.
_RAGGED = re.compile(r"Row #(?P<line>\d+): Expected (?P<expected>\d+) columns, got (?P<got>\d+)")


def _csv_error(path: Path, error: Exception) -> UserError:
    message = str(error)
    ragged = _RAGGED.search(message)
    if ragged:
        return UserError(
            f"input {path} line {ragged['line']} has {ragged['got']} fields where its header "
            f"has {ragged['expected']}; fix or remove that line (a value holding a comma needs "
            "double quotes)"
        )
    # pyarrow leads with the dataset it was building; the reason is what follows "Invalid: ".
    reason = _first_line(error).rsplit("Invalid: ", 1)[-1]
    return UserError(f"input {path} cannot be read as CSV: {reason}; fix the file and run again")


def _csv_header(path: Path) -> list[str]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), None)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise UserError(f"input {path} is not a readable CSV: {error}")
    if not header:
        raise UserError(f"input {path} is empty; it needs a header row")
    return header


def check_columns(names: list[str], layout: Layout, where: str) -> None:
    """Raise naming every feature or --keep column the input lacks."""
    missing = [name for name in layout.carried if name not in names]
    if missing:
        features = [name for name in missing if name in layout.features]
        kept = [name for name in missing if name not in layout.features]
        parts = []
        if features:
            parts.append(f"the model's feature column(s) {', '.join(map(repr, features))}")
        if kept:
            parts.append(f"the --keep column(s) {', '.join(map(repr, kept))}")
        raise UserError(
            f"input {where} lacks {' and '.join(parts)}; its columns are {', '.join(names)}"
        )


def output_schemas(input_schema: pa.Schema, layout: Layout) -> tuple[pa.Schema, pa.Schema]:
    """Return the Arrow schemas of the scored output and the rejects."""
    carried = [input_schema.field(name).remove_metadata() for name in layout.carried]
    label = (
        pa.float64() if layout.regression else pa.int64() if layout.integer_labels else pa.string()
    )
    scored = pa.schema(
        [
            *carried,
            pa.field(PREDICTION, label),
            *(pa.field(name, pa.float64()) for name in layout.probability_columns),
            pa.field(MODEL_VERSION, pa.string()),
        ]
    )
    rejects = pa.schema(
        [
            *carried,
            *(pa.field(name, pa.string()) for name in REJECTED_COLUMNS),
            pa.field(MODEL_VERSION, pa.string()),
        ]
    )
    return scored, rejects


class Writer:
    """Appends record batches to one CSV or Parquet file; a failed write (a full disk) is a
    UserError naming the output it was for."""

    def __init__(self, path: str, fmt: str, schema: pa.Schema, target: Path) -> None:
        self.schema = schema
        self.target = target
        writer = pq.ParquetWriter if fmt == "parquet" else pacsv.CSVWriter
        try:
            self._writer = writer(path, schema)
        except OSError as error:
            raise self._failed(error) from None

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows:
            try:
                self._writer.write_batch(batch)
            except OSError as error:
                raise self._failed(error) from None

    def close(self) -> None:
        try:
            self._writer.close()
        except OSError as error:
            raise self._failed(error) from None

    def abandon(self) -> None:
        """Close the file of a run that stops; its own error is not the one to report."""
        try:
            self._writer.close()
        except OSError:
            pass  # the file is removed next, and the error that stopped the run is reported

    def _failed(self, error: OSError) -> UserError:
        # pyarrow's own text wraps the system's ("Error writing bytes ... [errno 28] ...").
        reason = os.strerror(error.errno) if error.errno else _first_line(error)
        return UserError(
            f"could not write {self.target}: {reason}; free space in {self.target.parent} or "
            "pick another folder"
        )


def score_local(
    source: InputFiles,
    scorer: Scorer,
    layout: Layout,
    scored: Writer,
    rejects: Writer,
    *,
    workers: int,
    batch_rows: int = BATCH_ROWS,
) -> Tally:
    """Score every row of `source` into the two writers, in input order, and count them."""
    tally = Tally()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="score")
    try:
        pending: deque[Future] = deque()
        for batch in source.batches(list(layout.carried), batch_rows):
            pending.append(pool.submit(_score, batch, scorer, layout, scored, rejects))
            # A few chunks ahead keeps every thread busy and memory bounded.
            while len(pending) > 2 * workers:
                _collect(pending.popleft().result(), scored, rejects, tally)
        while pending:
            _collect(pending.popleft().result(), scored, rejects, tally)
    finally:
        # A run that stops early (an error, a signal) does not score the chunks still queued.
        pool.shutdown(wait=True, cancel_futures=True)
    return tally


def _first_line(error: Exception) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0]


def _score(
    batch: pa.RecordBatch, scorer: Scorer, layout: Layout, scored: Writer, rejects: Writer
) -> tuple[pa.RecordBatch, pa.RecordBatch, int]:
    frame = batch.select(list(layout.features)).to_pandas()
    chunk = score_chunk(scorer, frame)
    return (
        _scored_batch(batch, chunk, layout, scored.schema),
        _rejects_batch(batch, chunk, layout, rejects.schema),
        batch.num_rows,
    )


def _scored_batch(
    batch: pa.RecordBatch, chunk: Chunk, layout: Layout, schema: pa.Schema
) -> pa.RecordBatch:
    carried = batch.select(list(layout.carried))
    if not chunk.all_valid:
        carried = carried.filter(pa.array(chunk.valid))
    rows = carried.num_rows
    label_type = schema.field(PREDICTION).type
    arrays = [
        *carried.columns,
        pa.array(chunk.labels, type=label_type),
        *(pa.array(chunk.probabilities[:, i]) for i in range(len(layout.classes))),
        pa.repeat(pa.scalar(layout.tag, pa.string()), rows),
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _rejects_batch(
    batch: pa.RecordBatch, chunk: Chunk, layout: Layout, schema: pa.Schema
) -> pa.RecordBatch:
    rejected = ~chunk.valid
    carried = batch.select(list(layout.carried)).filter(pa.array(rejected))
    arrays = [
        *carried.columns,
        *(pa.array(values, type=pa.string()) for values in rejected_columns(chunk).values()),
        pa.repeat(pa.scalar(layout.tag, pa.string()), carried.num_rows),
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _collect(
    done: tuple[pa.RecordBatch, pa.RecordBatch, int], scored: Writer, rejects: Writer, tally: Tally
) -> None:
    scored_batch, rejects_batch, rows = done
    scored.write(scored_batch)
    rejects.write(rejects_batch)
    tally.rows_read += rows
    tally.rows_scored += scored_batch.num_rows
    if rejects_batch.num_rows:
        pairs = zip(
            rejects_batch.column(FAILED_EXPECTATIONS).to_pylist(),
            rejects_batch.column(FAILED_COLUMNS).to_pylist(),
            np.ones(rejects_batch.num_rows, dtype=int).tolist(),
            strict=True,
        )
        tally.rejected_by.update(rule_counts(pairs))
