"""The Spark batch engine: `mapInPandas` over the one scoring core, the model shipped once.

The driver exports the model version to a plain folder (`bentoml.models.export_model`) and ships
it with `addFile`; each Python worker reads it through the model version contract
(`service.model_version.read_exported_model`, hashes checked) and never imports BentoML. The
executors run `service.batch` (`spark_scored`, then `spark_rejects` when there are rejects),
over the code the local engine runs, so both engines give the same rows the same verdicts.

Local runs stay on loopback (driver bound to 127.0.0.1) and run the workers on this project's
interpreter (PYSPARK_PYTHON).
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from scripts.batch_files import FORMATS, Outputs, Tally, input_parts
from scripts.batch_local import check_columns
from scripts.batch_spark_jvm import JvmOptions, finish_archive, local_jvm_options
from service.batch import (
    FAILED_COLUMNS,
    FAILED_EXPECTATIONS,
    MODEL_VERSION,
    PREDICTION,
    ROW_ID,
    Layout,
    RejectsParam,
    rule_counts,
    spark_rejects,
    spark_scored,
)
from service.errors import PipelineError
from service.model_version import ModelVersion

# Rows per Arrow batch handed to a worker; Spark's default (10,000) costs more in per-batch
# overhead than the model takes to score them.
MAX_RECORDS_PER_BATCH = 100_000
PARTITIONS_PER_CORE = 4
# Rejected rows the tasks send to the driver as (row id, rules), all told; past this, a second
# pass judges every row again instead.
REJECTS_TO_DRIVER = 200_000
# pyspark 4.3 warns on import that pandas >= 3 is "not fully supported". The paths batch scoring
# uses were checked against the local engine (tests/integration/test_batch_engines.py): numeric
# and text columns, nulls in both, integer and string labels. This one warning is silenced in
# the driver and the workers; every other warning stays.
PANDAS_WARNING = "ignore:PySpark does not yet fully support pandas:FutureWarning"


def is_local(master: str) -> bool:
    return master.startswith("local")


def session(master: str | None, workers: int, conf: list[str]) -> tuple[Any, JvmOptions | None]:
    """Return a new SparkSession, local[workers] on loopback unless a master is given or set,
    and the JVM options it was given when this run chose them."""
    from pyspark import SparkConf
    from pyspark.sql import SparkSession

    settings = dict(_setting(item) for item in conf)
    # spark-submit passes its master in the environment's Spark configuration.
    master = master or settings.get("spark.master") or SparkConf().get("spark.master", None)
    master = master or f"local[{workers}]"
    jvm = None
    if is_local(master):
        # Executors are this process's children: the project's interpreter, and loopback only.
        os.environ["PYSPARK_PYTHON"] = sys.executable
        os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
        settings.setdefault("spark.driver.bindAddress", "127.0.0.1")
        settings.setdefault("spark.driver.host", "127.0.0.1")
        if "spark.driver.extraJavaOptions" not in settings:
            jvm = local_jvm_options()
            settings["spark.driver.extraJavaOptions"] = jvm.options
        # Several tasks per core: a file splits only between row groups, and equal shares of
        # bytes can be unequal shares of work; smaller tasks even it out.
        settings.setdefault("spark.sql.files.minPartitionNum", str(PARTITIONS_PER_CORE * workers))
        # ...and a split no smaller than this (default 4 MB) would leave a 10 MB file 3 tasks.
        settings.setdefault("spark.sql.files.openCostInBytes", str(512 << 10))
    else:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    _quiet_pandas_warning()
    builder = SparkSession.builder.master(master).appName("batch scoring")
    defaults = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(MAX_RECORDS_PER_BATCH),
    }
    for key, value in {**defaults, **settings}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark, jvm


class SessionStart:
    """The run's Spark session, started in a thread: the JVM boots while the driver reads and
    exports the model version. A session already running in this process (a notebook's, a test
    module's) is used as it is and left running; one started here is stopped by `stop`."""

    def __init__(self, master: str | None, workers: int, conf: list[str]) -> None:
        from pyspark import SparkContext
        from pyspark.sql import SparkSession

        # Not getActiveSession(): the JVM keeps the active session per thread, and a session
        # started in another thread (as here) is not active in this one.
        self.owned = SparkContext._active_spark_context is None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spark-start")
        if self.owned:
            self._future = self._pool.submit(session, master, workers, list(conf))
        else:
            self._future = Future()
            self._future.set_result((SparkSession.builder.getOrCreate(), None))

    def get(self) -> Any:
        """Return the session once it is up; raises what starting it raised."""
        return self._future.result()[0]

    def stop(self) -> None:
        """Stop a session this run started (waiting for it to finish starting first)."""
        if self.owned:
            try:
                spark, jvm = self._future.result()
            except PipelineError:
                spark = None  # it never started; `get` raised the error already
            if spark is not None:
                spark.stop()
                if jvm is not None:
                    finish_archive(jvm)
        self._pool.shutdown()


def _setting(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise PipelineError(f"--conf takes KEY=VALUE, got {item!r}")
    return key.strip(), value.strip()


def _quiet_pandas_warning() -> None:
    import warnings

    warnings.filterwarnings(
        "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
    )
    # Workers are started by the JVM with this process's environment.
    existing = os.environ.get("PYTHONWARNINGS")
    if PANDAS_WARNING not in (existing or ""):
        os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [existing, PANDAS_WARNING]))


class HadoopPaths:
    """Existence checks and renames through Hadoop's FileSystem: local, HDFS or object stores."""

    def __init__(self, spark: Any) -> None:
        self._jvm = spark.sparkContext._jvm
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()

    def path(self, text: str) -> Any:
        return self._jvm.org.apache.hadoop.fs.Path(text)

    def _fs(self, path: Any) -> Any:
        return path.getFileSystem(self._conf)

    def exists(self, text: str) -> bool:
        path = self.path(text)
        return bool(self._fs(path).exists(path))

    def sibling(self, text: str, suffix: str) -> str:
        path = self.path(text)
        name = f".{path.getName()}.{uuid.uuid4().hex[:8]}.{suffix}"
        return str(self._jvm.org.apache.hadoop.fs.Path(path.getParent(), name))

    def replace(self, source: str, target: str) -> None:
        """Move `source` to `target`, removing what was at `target` first."""
        src, dst = self.path(source), self.path(target)
        fs = self._fs(dst)
        if fs.exists(dst):
            fs.delete(dst, True)
        if not fs.rename(src, dst):
            raise PipelineError(f"could not move the finished output {source} to {target}")

    def remove(self, text: str) -> None:
        path = self.path(text)
        fs = self._fs(path)
        if fs.exists(path):
            fs.delete(path, True)


def _uri(path: Path) -> str:
    # A relative local path, resolved as the user meant it; URIs (hdfs://, s3a://) pass through.
    text = str(path)
    return text if "://" in text else str(path.resolve())


def read_input(spark: Any, uri: str, fmt: str) -> Any:
    """Return the input as a DataFrame; CSV as text, as the local engine reads it."""
    if fmt == "parquet":
        return spark.read.parquet(uri)
    # No schema inference (a second pass over the data): every column is text. RFC 4180 quotes
    # (""), the header checked against every part, and a malformed line stops the run.
    return (
        spark.read.option("header", True)
        .option("escape", '"')
        .option("enforceSchema", False)
        .option("mode", "FAILFAST")
        .csv(uri)
    )


def output_schemas(input_schema: Any, layout: Layout) -> tuple[Any, Any]:
    """Return the Spark schemas the two mapInPandas passes give: scored rows and rejects."""
    from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

    fields = {field.name: field for field in input_schema.fields}
    carried = [fields[name] for name in layout.carried]
    label = LongType() if layout.integer_labels else StringType()
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
            StructField(FAILED_EXPECTATIONS, StringType()),
            StructField(FAILED_COLUMNS, StringType()),
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
    """Score the input on Spark into both outputs, each written under a temporary name first.

    `started` (a perf_counter reading) is when the command began, for the start-up time.
    """
    from pyspark.errors import PySparkException

    started = time.perf_counter() if started is None else started
    layout = Layout.of(version, keep)
    fmt = input_format(input_path)
    staged: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="batch-model-") as scratch:
        # Exported while the session may still be starting.
        folder = export_folder(version, model, Path(scratch))
        spark = starting.get()
        paths = HadoopPaths(spark)
        try:
            for target in (_uri(outputs.scored), _uri(outputs.rejects)):
                parent = str(paths.path(target).getParent())
                if not paths.exists(parent):
                    raise PipelineError(
                        f"output folder {parent} does not exist; create it or pick another path"
                    )
                staged[target] = paths.sibling(target, "partial")
            spark.sparkContext.addFile(str(folder), recursive=True)
            tally = Tally(engine=f"spark, {spark.sparkContext.master}")
            tally.startup = time.perf_counter() - started
            try:
                frame = read_input(spark, _uri(input_path), fmt)
            except PySparkException as error:
                raise PipelineError(f"input {input_path} cannot be read: {_first_line(error)}")
            check_columns(frame.columns, layout, str(input_path))
            shipped = {"model_dir": folder.name, "layout": layout, "csv": fmt == "csv"}
            _score_passes(spark, frame, shipped, outputs, list(staged.values()), tally)
            for target, source in staged.items():
                paths.replace(source, target)
        except BaseException:
            for source in staged.values():
                paths.remove(source)
            raise
    return tally


def _score_passes(
    spark: Any, frame: Any, shipped: dict, outputs: Outputs, staged: list[str], tally: Tally
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
            none = [
                F.lit(None).cast("string").alias(n) for n in (FAILED_EXPECTATIONS, FAILED_COLUMNS)
            ]
            rejects = carried.where(F.lit(False)).select("*", *none, version_column)
            counts = Counter()
        elif len(details.value) == rejected.value:
            # Every rejected row's id and rules reached the driver: the rejects are the input rows
            # with those ids, read again in the JVM and joined, nothing judged twice.
            import pandas as pd

            # Through Arrow (a pandas frame), not a list of tuples: no Python worker to start.
            found = spark.createDataFrame(
                pd.DataFrame(details.value, columns=[ROW_ID, FAILED_EXPECTATIONS, FAILED_COLUMNS]),
                f"{ROW_ID} long, {FAILED_EXPECTATIONS} string, {FAILED_COLUMNS} string",
            )
            rejects = numbered.join(F.broadcast(found), on=ROW_ID).select(
                *_cols(layout.carried), FAILED_EXPECTATIONS, FAILED_COLUMNS, version_column
            )
            counts = Counter((expectations, columns) for _, expectations, columns in details.value)
        else:
            # Too many to send to the driver: judge every row again, without predicting.
            rejects = carried.mapInPandas(
                functools.partial(spark_rejects, **shipped), rejects_schema
            )
            rejects = rejects.select("*", version_column).persist()
            grouped = rejects.groupBy(FAILED_EXPECTATIONS, FAILED_COLUMNS).count().collect()
            counts = Counter({(row[0], row[1]): int(row[2]) for row in grouped})
        write(rejects, staged[1], outputs.rejects_format)
        rejects.unpersist()
    except Py4JJavaError as error:
        raise PipelineError(f"the Spark job failed: {_java_cause(error)}")
    if sum(counts.values()) != rejected.value:
        raise PipelineError(
            f"the scoring pass rejected {rejected.value} rows but the rejects pass found "
            f"{sum(counts.values())}; did the input change during the run?"
        )
    tally.rows_read = rows.value
    tally.rows_scored = rows.value - rejected.value
    tally.rejected_by.update(rule_counts((e, c, n) for (e, c), n in counts.items()))


def _cols(names: tuple[str, ...]) -> list[Any]:
    from pyspark.sql import functions as F

    # Backticks keep names with spaces or dots whole.
    return [F.col("`{}`".format(name.replace("`", "``"))) for name in names]


def input_format(path: Path) -> str:
    """Return the input's format; a local path is checked now, a URI (hdfs://, s3a://) by Spark."""
    text = str(path)
    if "://" in text:
        fmt = FORMATS.get(Path(text).suffix.lower())
        if fmt is None:
            raise PipelineError(f"input {text} has no known extension; name it .csv or .parquet")
        return fmt
    return input_parts(path)[0]


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _java_cause(error: Any) -> str:
    """Return the innermost cause's message: a malformed CSV line, a failed Python worker."""
    cause = error.java_exception
    while cause.getCause() is not None:
        cause = cause.getCause()
    return _first_line(Exception(str(cause.getMessage() or cause.toString())))
