"""Starting the Spark session for batch scoring, and the JVM options of a local run.

A local run binds to 127.0.0.1 (spark.driver.bindAddress, spark.driver.host, SPARK_LOCAL_IP),
runs its Python workers on this project's interpreter (PYSPARK_PYTHON) and starts the JVM in a
thread while the driver loads the model.

Measured on this 2-core machine (scripts/tools/bench/batch.py, November 2026), most of a local
run's JVM time is start-up: thousands of classes found one by one in ~250 jars, and the
optimising compiler working on code the run is nearly done with. So a local run's JVM uses

- C1 alone (`-XX:TieredStopAtLevel=1`): C2 spent 9 CPU-seconds in MLflow's spark_udf run, on
  cores the Python workers need;
- the serial collector: G1's concurrent threads cost about 1.5 CPU-seconds of a 1M-row run and
  bought nothing on a heap this small; and
- a class-data-sharing archive (AppCDS): the first run saves the classes Spark loaded in the
  user's cache (about 180 MB, keyed by Java, pyspark and its jars), and later runs map them
  instead of loading them; the JVM's CPU time fell by a third. Writing it made a run about
  twice as slow, so `make spark` writes it ahead (`python -m scripts.batch.spark_session`); a
  run that finds none writes it itself. A stale or unusable archive is ignored by the JVM.

`--conf spark.driver.extraJavaOptions=...` replaces all three.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.errors import UserError

# Rows per Arrow batch handed to a worker; Spark's default (10,000) costs more in per-batch
# overhead than the model takes to score them.
MAX_RECORDS_PER_BATCH = 100_000
PARTITIONS_PER_CORE = 4

# pyspark 4.3 warns on import that pandas >= 3 is "not fully supported". The paths batch scoring
# uses were checked against the local engine (tests/integration/test_batch_engines.py): numeric
# and text columns, nulls in both, integer and string labels. This one warning is silenced in
# the driver and the workers; every other warning stays.
PANDAS_WARNING = "ignore:PySpark does not yet fully support pandas:FutureWarning"
# C1 alone and the serial collector (see above).
SHORT_RUN = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
# The JVM reports every class it cannot archive (old bytecode versions) as a warning.
QUIET_CDS = "-Xlog:cds=off -Xlog:cds+dynamic=off"
# A failed or cancelled job is reported once, on the batch's one line (`_job_error` in
# scripts/batch/spark.py); these log it again at ERROR, each with its Java stack.
FAILURE_LOGGERS = (
    "org.apache.spark.executor.Executor",
    "org.apache.spark.scheduler.TaskSetManager",
    "org.apache.spark.sql.execution.datasources.FileFormatWriter",
    "org.apache.spark.util.Utils",  # "Aborting task"
)


def cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "notebook-to-service" / "spark-cds"


@dataclass(frozen=True)
class JvmOptions:
    """The driver JVM's options, and where this run's JVM writes a new archive (if it does)."""

    options: str
    archive: Path | None = None
    dump: Path | None = None


def local_jvm_options() -> JvmOptions:
    """Return the options for a local run: C1 only, and the class archive (used or written)."""
    key = _archive_key()
    if key is None:
        return JvmOptions(SHORT_RUN)
    archive = cache_folder() / f"{key}.jsa"
    if archive.is_file():
        return JvmOptions(f"{SHORT_RUN} -XX:SharedArchiveFile={archive} {QUIET_CDS}")
    try:
        archive.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return JvmOptions(SHORT_RUN)
    dump = archive.with_name(f"{key}.{os.getpid()}.partial")
    return JvmOptions(f"{SHORT_RUN} -XX:ArchiveClassesAtExit={dump} {QUIET_CDS}", archive, dump)


def finish_archive(jvm: JvmOptions) -> None:
    """After the session stopped: end its JVM so it writes the archive, then move it in place."""
    if jvm.dump is None or jvm.archive is None:
        return
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    process = getattr(gateway, "proc", None)
    if process is not None:
        # The gateway JVM exits when its stdin closes, and writes the archive as it exits.
        gateway.shutdown()
        process.stdin.close()
        process.wait(timeout=300)
        SparkContext._gateway = None
        SparkContext._jvm = None
    if jvm.dump.is_file() and jvm.dump.stat().st_size > 0:
        for old in jvm.archive.parent.glob("*.jsa"):
            old.unlink(missing_ok=True)  # archives of an older Java or pyspark
        os.replace(jvm.dump, jvm.archive)
    else:
        jvm.dump.unlink(missing_ok=True)


def _archive_key() -> str | None:
    """Return a key for the archive: the Java binary, pyspark's version and its jars."""
    import pyspark

    java_home = os.environ.get("JAVA_HOME")
    java = shutil.which("java", path=str(Path(java_home) / "bin") if java_home else None)
    jars = Path(pyspark.__file__).parent / "jars"
    if java is None or not jars.is_dir():
        return None
    binary = Path(java).resolve()
    parts = [pyspark.__version__, str(binary), str(binary.stat().st_mtime_ns)]
    parts += sorted(f"{jar.name}:{jar.stat().st_size}" for jar in jars.glob("*.jar"))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


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
    log4j = spark.sparkContext._jvm.org.apache.logging.log4j
    for name in FAILURE_LOGGERS:
        log4j.core.config.Configurator.setLevel(name, log4j.Level.OFF)
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
            except UserError:
                spark = None  # it never started; `get` raised the error already
            if spark is not None:
                _stop(spark)
                if jvm is not None:
                    finish_archive(jvm)
        self._pool.shutdown()


def _stop(spark: Any) -> None:
    """Stop the session without waiting on pyspark's accumulator server.

    That server looks for its shutdown request every 0.5 s and SparkContext.stop waits for it:
    half a second of every run. Every task is done by now, so nothing more comes to it: it is
    shut down in a daemon thread of its own, done within 0.5 s or when the process ends.
    """
    context = spark.sparkContext
    server = getattr(context, "_accumulatorServer", None)
    if server is not None:
        context._accumulatorServer = None
        threading.Thread(target=server.shutdown, name="accumulator-stop", daemon=True).start()
    spark.stop()


def _setting(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise UserError(f"--conf takes KEY=VALUE, got {item!r}")
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


def _identity(frames):
    yield from frames


def write_archive() -> int:
    """Write the class archive now (`make spark` runs this), so no scoring run pays for it."""
    import tempfile

    jvm = local_jvm_options()
    if jvm.dump is None:
        print("spark class archive: " + ("in place" if _archive_key() else "not used here"))
        return 0
    try:
        spark, jvm = session(None, 1, [])
    except Exception as error:  # noqa: BLE001 - setup goes on; a scoring run writes it later
        print(f"spark class archive: not written, Spark did not start ({error})")
        return 0
    with tempfile.TemporaryDirectory(prefix="spark-cds-") as scratch:
        # The kinds of work a scoring run does: Parquet and CSV in and out, mapInPandas, a join.
        frame = spark.range(1000).selectExpr("id", "cast(id as double) / 7 as x", "'a' as t")
        frame.write.parquet(f"{scratch}/in.parquet")
        rows = spark.read.parquet(f"{scratch}/in.parquet")
        rows.mapInPandas(_identity, rows.schema).write.csv(f"{scratch}/out.csv", header=True)
        spark.read.option("header", True).csv(f"{scratch}/out.csv").join(
            rows.limit(10).selectExpr("cast(id as string) as id"), "id"
        ).write.parquet(f"{scratch}/joined.parquet")
    spark.stop()
    finish_archive(jvm)
    print(f"spark class archive: written to {jvm.archive}")
    return 0


if __name__ == "__main__":
    raise SystemExit(write_archive())
