"""The JVM of a local Spark run: options that make a run of seconds start in fewer of them.

Measured on this 2-core machine (scripts/tools/bench_batch.py, November 2026), most of a local
run's JVM time is start-up: thousands of classes found one by one in ~250 jars, and the
optimising compiler working on code the run is nearly done with. So a local run uses

- C1 alone (`-XX:TieredStopAtLevel=1`): C2 spent 9 CPU-seconds in MLflow's spark_udf run, on
  cores the Python workers need;
- the serial collector: G1's concurrent threads cost about 1.5 CPU-seconds of a 1M-row run and
  bought nothing on a heap this small; and
- a class-data-sharing archive (AppCDS): the first run saves the classes Spark loaded in the
  user's cache (about 175 MB, keyed by Java, pyspark and its jars), and later runs map them
  instead of loading them; the JVM's CPU time fell by a third. Writing it made a run about
  twice as slow, so `make spark` writes it ahead (`python -m scripts.batch_spark_jvm`); a run
  that finds none writes it itself. A stale or unusable archive is ignored by the JVM.

`--conf spark.driver.extraJavaOptions=...` replaces all of this.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

# C1 alone and the serial collector (see above).
SHORT_RUN = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
# The JVM reports every class it cannot archive (old bytecode versions) as a warning.
QUIET_CDS = "-Xlog:cds=off -Xlog:cds+dynamic=off"


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


def _identity(frames):
    yield from frames


def write_archive() -> int:
    """Write the class archive now (`make spark` runs this), so no scoring run pays for it."""
    import tempfile

    from scripts.batch_spark import session

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
