"""The Spark batch engine: `mapInPandas` over the one scoring core, the model shipped once.

The driver exports the model version to a plain folder (`bentoml.models.export_model`) and ships
it with `addFile`; each Python worker reads it through the model version contract
(`service.model.version.read_exported_model`, hashes checked) and never imports BentoML. The
executors run `service.scoring.batch` (`spark_scored`; `spark_rejects` only past REJECTS_TO_DRIVER),
over the code the local engine runs, so both engines give the same rows the same verdicts.

The session itself (loopback, the project's interpreter, JVM options) is started by
`scripts/batch/spark_session.py`.
"""

from __future__ import annotations

import functools
import re
import signal
import tempfile
import threading
import time
from collections import Counter
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from scripts.batch.files import Outputs, Tally, input_format, input_parts
from scripts.batch.local import check_columns
from scripts.batch.output_pair import (
    Interrupted,
    LeftBehind,
    OutputPair,
    local_unwritable,
    signals_held,
)
from scripts.batch.spark_session import SessionStart
from service.errors import UserError
from service.model.version import ModelVersion
from service.scoring.batch import (
    FAILED_COLUMNS,
    FAILED_EXPECTATIONS,
    MODEL_VERSION,
    PREDICTION,
    REJECTED_COLUMNS,
    ROW_ID,
    Layout,
    RejectsParam,
    rule_counts,
    spark_rejects,
    spark_scored,
)

# Rejected rows the tasks send to the driver, all told, to be written from there; past this, a
# second pass judges every row again instead.
REJECTS_TO_DRIVER = 200_000


# Spark's CSV reader parses only the columns a query needs, so a line with too few or too many
# fields went through as gaps (FAILFAST never saw it); parsing every column finds it, as the
# local engine does.
CSV_PRUNING = "spark.sql.csv.parser.columnPruning.enabled"


class HadoopPaths:
    """`Paths` through Hadoop's FileSystem: local, HDFS or object stores."""

    def __init__(self, spark: Any) -> None:
        self._jvm = spark.sparkContext._jvm
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()

    def _path(self, text: str) -> Any:
        return self._jvm.org.apache.hadoop.fs.Path(text)

    def _fs(self, path: Any) -> Any:
        return path.getFileSystem(self._conf)

    def _call(self, what: str, text: str, call: Any) -> Any:
        from py4j.protocol import Py4JError, Py4JJavaError

        try:
            return call(self._path(text))
        except Py4JJavaError as error:
            raise OSError(f"cannot {what} {text}: {_java_cause(error)}") from None
        except Py4JError as error:  # the JVM is gone
            raise OSError(f"cannot {what} {text}: {_first_line(error)}") from None

    def parent(self, path: str) -> str:
        return str(self._path(path).getParent())

    def child(self, folder: str, name: str) -> str:
        return str(self._jvm.org.apache.hadoop.fs.Path(self._path(folder), name))

    def name(self, path: str) -> str:
        return str(self._path(path).getName())

    def exists(self, path: str) -> bool:
        return bool(self._call("look for", path, lambda p: self._fs(p).exists(p)))

    def is_folder(self, path: str) -> bool:
        def folder(p: Any) -> bool:
            fs = self._fs(p)
            return bool(fs.exists(p) and fs.getFileStatus(p).isDirectory())

        return self._call("look for", path, folder)

    def names(self, folder: str) -> list[str]:
        found = self._call("list", folder, lambda p: self._fs(p).listStatus(p))
        return [str(status.getPath().getName()) for status in found]

    def rename(self, source: str, target: str) -> None:
        # Hadoop moves a source *into* a folder already at the target: OutputPair never has one.
        moved = self._call("move", source, lambda p: self._fs(p).rename(p, self._path(target)))
        if not moved:
            raise OSError(f"Hadoop did not move {source} to {target}")

    def remove(self, path: str) -> None:
        def delete(p: Any) -> None:
            fs = self._fs(p)
            if not fs.delete(p, True) and fs.exists(p):
                raise OSError(f"Hadoop did not remove {path}")

        self._call("remove", path, delete)

    def unwritable(self, folder: str) -> str | None:
        """Return why a local folder cannot take new files; None for other filesystems, whose
        permissions the write itself checks."""
        path = self._path(folder)
        if str(self._fs(path).getUri().getScheme()) != "file":
            return None
        return local_unwritable(str(path.toUri().getPath()))


def _uri(path: Path) -> str:
    # A relative local path, resolved as the user meant it; URIs (hdfs://, s3a://) pass through.
    text = str(path)
    return text if "://" in text else str(path.resolve())


def read_input(spark: Any, uri: str, fmt: str) -> Any:
    """Return the input as a DataFrame; CSV as text, as the local engine reads it."""
    if fmt == "parquet":
        schema = parquet_schema(uri)
        reader = spark.read if schema is None else spark.read.schema(schema)
        return reader.parquet(uri)
    # No schema inference (a second pass over the data): every column is text. RFC 4180 quotes
    # (""), the header checked against every part, and a malformed line stops the run.
    return (
        spark.read.option("header", True)
        .option("escape", '"')
        .option("enforceSchema", False)
        .option("mode", "FAILFAST")
        .csv(uri)
    )


def parquet_schema(uri: str) -> Any:
    """Return the Spark schema of a local Parquet input, read from its first part's footer, or
    None for Spark to infer it: a URI, an unreadable footer, a type not mapped here.

    Spark would run a job of its own to read that same footer: 0.3 to 0.5 s of a short run.
    Numbers, booleans and text map one to one; anything else (dates, decimals, dictionaries)
    is left to Spark.
    """
    if "://" in uri:
        return None
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark.sql import types as T

    simple = {
        pa.bool_(): T.BooleanType(),
        pa.int8(): T.ByteType(),
        pa.int16(): T.ShortType(),
        pa.int32(): T.IntegerType(),
        pa.int64(): T.LongType(),
        pa.float32(): T.FloatType(),
        pa.float64(): T.DoubleType(),
        pa.string(): T.StringType(),
        pa.large_string(): T.StringType(),
    }
    try:
        footer = pq.read_schema(input_parts(Path(uri))[1][0])
    except (pa.ArrowInvalid, OSError, UserError):
        return None  # Spark reads it, and says what is wrong in its own words
    types = [simple.get(field.type) for field in footer]
    if None in types:
        return None
    # Nullable, as Spark reads every file column.
    return T.StructType(
        [T.StructField(field.name, kind, True) for field, kind in zip(footer, types, strict=True)]
    )


def output_schemas(input_schema: Any, layout: Layout) -> tuple[Any, Any]:
    """Return the Spark schemas the two mapInPandas passes give: scored rows and rejects."""
    from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

    fields = {field.name: field for field in input_schema.fields}
    carried = [fields[name] for name in layout.carried]
    label = (
        DoubleType() if layout.regression else LongType() if layout.integer_labels else StringType()
    )
    scored = StructType(
        [
            *carried,
            StructField(PREDICTION, label),
            *(StructField(name, DoubleType()) for name in layout.probability_columns),
        ]
    )
    rejects = StructType(
        [
            *carried,
            *(StructField(name, StringType()) for name in REJECTED_COLUMNS),
        ]
    )
    return scored, rejects


def write(frame: Any, uri: str, fmt: str) -> None:
    writer = frame.write.mode("errorifexists")
    if fmt == "csv":
        writer = writer.option("header", True).option("escape", '"')
    writer.format(fmt).save(uri)


def export_folder(version: ModelVersion, model: str | None, into: Path) -> Path:
    """Return the exported version's folder: the one given, or one exported from the store."""
    if model is not None and Path(model).is_dir():
        return Path(model).resolve()
    import bentoml

    name, _, number = version.tag.partition(":")
    folder = into / f"{name}-{number}"
    bentoml.models.export_model(version.tag, str(folder), "folder")
    return folder


def score_spark(
    input_path: Path,
    outputs: Outputs,
    version: ModelVersion,
    *,
    model: str | None,
    keep: list[str],
    starting: SessionStart,
    started: float | None = None,
) -> Tally:
    """Score the input on Spark into both outputs, written under hidden names and moved in as a
    pair once both are whole (`OutputPair`).

    `started` (a perf_counter reading) is when the command began, for the start-up time.
    """
    started = time.perf_counter() if started is None else started
    layout = Layout.of(version, keep)
    fmt = input_format(input_path)
    with tempfile.TemporaryDirectory(prefix="batch-model-") as scratch:
        # Exported while the session may still be starting.
        folder = export_folder(version, model, Path(scratch))
        spark = starting.get()
        stopping = threading.Event()
        run = functools.partial(
            _run, spark, input_path, fmt, outputs, layout, folder, started, stopping
        )
        # The run goes on in a thread of its own, so a signal (which Python raises in the main
        # thread) never cuts a py4j call short: py4j logs that with a traceback. This thread
        # waits, and on a signal cancels the run's jobs until the run has removed what it wrote.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="spark-run") as runner:
            running = runner.submit(run)
            try:
                return running.result()
            except KeyboardInterrupt as stop:
                with signals_held():
                    stopping.set()
                    while not running.done():
                        spark.sparkContext.cancelAllJobs()
                        futures.wait([running], timeout=0.2)
                error = running.exception()
                if error is None:  # it had begun its commit, which a signal does not stop
                    number = getattr(stop, "signal", signal.SIGINT)
                    raise Interrupted(number, written=True) from None
                if isinstance(error, LeftBehind):
                    raise error from None
                raise


def _run(
    spark: Any,
    input_path: Path,
    fmt: str,
    outputs: Outputs,
    layout: Layout,
    folder: Path,
    started: float,
    stopping: threading.Event,
) -> Tally:
    from pyspark.errors import PySparkException

    pair = OutputPair(_uri(outputs.scored), _uri(outputs.rejects), HadoopPaths(spark))
    pruning = None
    try:
        notes = pair.prepare()
        spark.sparkContext.addFile(str(folder), recursive=True)
        tally = Tally(engine=f"spark, {spark.sparkContext.master}")
        tally.startup = time.perf_counter() - started
        pruning = spark.conf.get(CSV_PRUNING)
        spark.conf.set(CSV_PRUNING, "false")
        try:
            frame = read_input(spark, _uri(input_path), fmt)
        except PySparkException as error:
            raise UserError(f"input {input_path} cannot be read: {_first_line(error)}")
        check_columns(frame.columns, layout, str(input_path))
        shipped = {"model_dir": folder.name, "layout": layout, "csv": fmt == "csv"}
        # Scored rows first: OutputPair relies on that order.
        _score_passes(spark, frame, shipped, outputs, list(pair.staged), tally, stopping)
        _stop_if(stopping)
        notes += pair.commit()
    except BaseException as error:
        _wait_for_tasks(spark)
        pair.discard(error)
        raise
    finally:
        if pruning is not None:
            spark.conf.set(CSV_PRUNING, pruning)  # the session may outlive the run
    tally.notes = notes
    return tally


def _stop_if(stopping: threading.Event) -> None:
    if stopping.is_set():
        raise KeyboardInterrupt


def _wait_for_tasks(spark: Any, timeout: float = 60) -> None:
    """Wait until no task runs: a task of a failed or cancelled job may still be writing its
    part, and would make the partial output again after it was removed."""
    from py4j.protocol import Py4JError

    try:
        tracker = spark.sparkContext._jsc.sc().statusTracker()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not sum(executor.numRunningTasks() for executor in tracker.getExecutorInfos()):
                return
            time.sleep(0.1)
    except Py4JError:
        return  # no JVM left: no task either


def _score_passes(
    spark: Any,
    frame: Any,
    shipped: dict,
    outputs: Outputs,
    staged: list[str],
    tally: Tally,
    stopping: threading.Event,
) -> None:
    """Write the scored rows, then the rejects, and count them into `tally`."""
    from py4j.protocol import Py4JJavaError
    from pyspark.sql import functions as F

    layout: Layout = shipped["layout"]
    carried = frame.select(*_cols(layout.carried))
    numbered = carried.withColumn(ROW_ID, F.monotonically_increasing_id())
    scored_schema, rejects_schema = output_schemas(frame.schema, layout)
    version_column = F.lit(layout.tag).alias(MODEL_VERSION)
    context = spark.sparkContext
    rows, rejected = context.accumulator(0), context.accumulator(0)
    details = context.accumulator([], RejectsParam())
    # What the driver may hold, shared out between the tasks.
    cap = REJECTS_TO_DRIVER // max(1, carried.rdd.getNumPartitions())
    counted = {"rows": rows, "rejected": rejected, "rejects": details, "cap": cap}
    try:
        scored = numbered.mapInPandas(
            functools.partial(spark_scored, **shipped, **counted), scored_schema
        )
        write(scored.select("*", version_column), staged[0], outputs.scored_format)
        if not rejected.value:
            # An empty frame of the rejects' columns, planned in the JVM: no job, no worker.
            none = [F.lit(None).cast("string").alias(n) for n in REJECTED_COLUMNS]
            rejects = carried.where(F.lit(False)).select("*", *none, version_column)
            counts = Counter()
        elif sum(len(found) for found in details.value) == rejected.value and _arrow(spark):
            # Every rejected row reached the driver: it writes them, in input order, without
            # reading or judging the input again. Through Arrow, as mapInPandas writes: a NaN in
            # pandas is a null in the output.
            found = gathered(details.value)
            rejects = spark.createDataFrame(found, rejects_schema).coalesce(1)
            rejects = rejects.select("*", version_column)
            counts = Counter(zip(found[FAILED_EXPECTATIONS], found[FAILED_COLUMNS], strict=True))
        else:
            # Too many to send to the driver, or no Arrow to write them from there: judge every
            # row again, without predicting.
            rejects = carried.mapInPandas(
                functools.partial(spark_rejects, **shipped), rejects_schema
            )
            rejects = rejects.select("*", version_column).persist()
            grouped = rejects.groupBy(FAILED_EXPECTATIONS, FAILED_COLUMNS).count().collect()
            counts = Counter({(row[0], row[1]): int(row[2]) for row in grouped})
        _stop_if(stopping)
        write(rejects, staged[1], outputs.rejects_format)
        rejects.unpersist()
    except Py4JJavaError as error:
        raise _job_error(error) from None
    if sum(counts.values()) != rejected.value:
        raise UserError(
            f"the scoring pass rejected {rejected.value} rows but the rejects pass found "
            f"{sum(counts.values())}; did the input change during the run?"
        )
    tally.rows_read = rows.value
    tally.rows_scored = rows.value - rejected.value
    tally.rejected_by.update(rule_counts((e, c, n) for (e, c), n in counts.items()))


def gathered(frames: list) -> Any:
    """Return the rejected rows the tasks sent as one pandas frame, in input order."""
    import pandas as pd

    found = pd.concat(frames, ignore_index=True).sort_values(ROW_ID, kind="stable")
    return found.drop(columns=ROW_ID).reset_index(drop=True)


def _arrow(spark: Any) -> bool:
    """Whether createDataFrame goes through Arrow (pyspark 4's default; a session may differ)."""
    # No default argument: get() returns the given one for a setting left unset.
    return spark.conf.get("spark.sql.execution.arrow.pyspark.enabled").lower() == "true"


def _cols(names: tuple[str, ...]) -> list[Any]:
    from pyspark.sql import functions as F

    # Backticks keep names with spaces or dots whole.
    return [F.col("`{}`".format(name.replace("`", "``"))) for name in names]


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _job_error(error: Any) -> UserError:
    """Return the failed job as the user can fix it: the input file and its bad line, or the
    innermost cause."""
    messages = []
    cause = error.java_exception
    while cause is not None:
        messages.append(str(cause.getMessage() or cause.toString()))
        cause = cause.getCause()
    text = "\n".join(messages)
    read = re.search(r"while reading file (\S+?)\.(?:\s|$)", text)
    where = read[1].removeprefix("file://") if read else None
    record = re.search(r"Malformed CSV record: (.*?)(?: SQLSTATE|$)", text, re.MULTILINE)
    if record:
        return UserError(
            f"input {where or 'file'} has a line whose fields do not match its header: "
            f"{record[1]!r}; fix or remove that line (a value holding a comma needs double "
            "quotes)"
        )
    if where is not None:
        return UserError(f"input {where} cannot be read: {_java_cause(error)}")
    return UserError(f"the Spark job failed: {_java_cause(error)}")


def _java_cause(error: Any) -> str:
    """Return the innermost cause's message: a malformed CSV line, a failed Python worker."""
    cause = error.java_exception
    while cause.getCause() is not None:
        cause = cause.getCause()
    return _first_line(Exception(str(cause.getMessage() or cause.toString())))
