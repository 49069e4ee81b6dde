"""Benchmark batch scoring, local and Spark engines (and MLflow's spark_udf), and print a table.

    python -m scripts.tools.bench.batch [--model TAG] [--rows 1000000] [--workers 2]
                                        [--bad-share 0.001] [--mlflow-python PATH] [--rounds 1]

Generates ROWS rows shaped like the model's training data (rows drawn from it, numbers jittered,
BAD_SHARE of them out of range) as Parquet in a temporary folder, then times each engine from
command start to exit, Parquet to Parquet, validated and predicted: `scripts/batch/cli.py --engine
local`, then `--engine spark` on local[WORKERS]. Peak memory is the largest sum of RSS over the
command's process tree (driver, JVM, Python workers), sampled every 50 ms; CPU is the tree's
user + system seconds. The Spark engine's first run on a machine also writes its JVM class
archive (scripts/batch/spark_session.py); run the benchmark twice to see both.

--mlflow-python names the interpreter of a throwaway venv holding mlflow-skinny, pyspark,
scikit-learn and skops (never the project's: MLflow is not a dependency). The same model's
scikit-learn pipeline is saved as an MLflow model, then scored with
`mlflow.pyfunc.spark_udf` on the same rows and the same local[WORKERS] (Spark's defaults
otherwise, no validation, labels only), timed the same way.

--rounds N runs every command N times, taking turns (local, spark, MLflow, then again), and
the table shows each command's median run by wall time, with every run's wall time beside it:
on this shared machine one command's wall time varies by up to 15% from run to run.

Figures are printed, never asserted: this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from scripts.pipeline.params import PROJECT_ROOT
from scripts.tools.harness.bento_process import descendants

BATCH = ["-m", "scripts.batch"]
SAMPLE_SECONDS = 0.05
MLFLOW = "mlflow spark_udf (labels only)"

MLFLOW_SAVE = """
import sys, yaml, skops.io, mlflow.sklearn
from mlflow.models import infer_signature
import pandas as pd
folder, out, sample = sys.argv[1:4]
info = yaml.safe_load(open(f"{folder}/model.yaml"))
trusted = info["metadata"]["skops_trusted"]
pipeline = skops.io.load(f"{folder}/pipeline.skops", trusted=trusted)
frame = pd.read_parquet(sample)
signature = infer_signature(frame, pipeline.predict(frame))
mlflow.sklearn.save_model(pipeline, out, signature=signature, skops_trusted_types=trusted)
"""

# The peer as its documentation shows it: a session, spark_udf, read, score, write.
MLFLOW_SCORE = """
import os, sys, time
started = time.perf_counter()
os.environ["PYSPARK_PYTHON"] = sys.executable
os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
import mlflow.pyfunc
from pyspark.sql import SparkSession
from pyspark.sql.functions import col, struct
model, source, target, workers = sys.argv[1:5]
spark = (SparkSession.builder.master(f"local[{workers}]")
         .config("spark.driver.bindAddress", "127.0.0.1").config("spark.driver.host", "127.0.0.1")
         .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
         .getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
print(f"ready in {time.perf_counter() - started:.2f} s", flush=True)
predict = mlflow.pyfunc.spark_udf(spark, model, result_type="string", env_manager="local")
frame = spark.read.parquet(source)
features = [col(f"`{name}`") for name in sys.argv[5:]]
frame.withColumn("prediction", predict(struct(*features))).write.parquet(target)
spark.stop()
"""


def make_rows(version, rows: int, bad_share: float, seed: int = 0) -> pd.DataFrame:
    """Return `rows` rows drawn from the model's training data, numeric features jittered, and
    `bad_share` of them given a first numeric feature far outside its training range."""
    schema = version.schema
    categorical = {f.name: "str" for f in schema.features if f.kind == "categorical"}
    training = pd.read_csv(PROJECT_ROOT / version.lineage["data_path"], dtype=categorical)
    rng = np.random.default_rng(seed)
    frame = training[schema.names].iloc[rng.integers(0, len(training), rows)]
    frame = frame.reset_index(drop=True)
    for feature in schema.features:
        if feature.kind == "numeric":
            column = frame[feature.name]
            spread = float(column.std() or 1.0) * 0.05
            frame[feature.name] = (column + rng.normal(0, spread, rows)).round(2)
    numeric = [f.name for f in schema.features if f.kind == "numeric"]
    if numeric and bad_share > 0:
        bad = rng.choice(rows, int(rows * bad_share), replace=False)
        frame.loc[bad, numeric[0]] = training[numeric[0]].max() * 10 + 1
    frame.insert(0, "id", np.arange(rows))
    return frame


class Measured:
    """A command run to exit: wall seconds, peak RSS of its process tree, CPU seconds."""

    def __init__(self, command: list[str], env: dict[str, str] | None = None) -> None:
        self.command = command
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.peak_rss = 0
        cpu: dict[int, float] = {}
        ticks = os.sysconf("SC_CLK_TCK")
        while process.poll() is None:
            rss = 0
            for pid in descendants(process.pid):
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if match := re.search(r"VmRSS:\s+(\d+) kB", status):
                    rss += int(match.group(1)) * 1024
                # utime and stime: this process alone, its children are sampled themselves
                cpu[pid] = (int(fields[11]) + int(fields[12])) / ticks
            self.peak_rss = max(self.peak_rss, rss)
            time.sleep(SAMPLE_SECONDS)
        self.stdout, self.stderr = process.communicate()
        self.wall = time.perf_counter() - started
        self.returncode = process.returncode
        self.cpu = sum(cpu.values())
        if self.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{self.stdout}\n{self.stderr}")

    def ready(self) -> float | None:
        match = re.search(r"ready in ([\d.]+) s", self.stdout)
        return float(match.group(1)) if match else None


def same(first: Path, second: Path) -> bool:
    """Return whether two outputs hold the same columns, types and values, row for row.

    Nullability and writer metadata are not compared: Spark marks a literal column not null.
    """
    a, b = pq.read_table(first), pq.read_table(second)
    types = [(f.name, f.type) for f in a.schema] == [(f.name, f.type) for f in b.schema]
    return types and a.to_pandas().equals(b.to_pandas())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model tag (default <model_name>:latest)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--bad-share", type=float, default=0.001, help="share of rows the suite rejects"
    )
    parser.add_argument("--workers", type=int, default=2, help="threads, or N in local[N]")
    parser.add_argument("--mlflow-python", help="interpreter of a venv with mlflow-skinny")
    parser.add_argument("--engines", default="local,spark", help="comma-separated")
    parser.add_argument(
        "--rounds", type=int, default=1, help="runs of each command, in turns; medians shown"
    )
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")

    import bentoml

    from scripts.batch.cli import load_version
    from service.settings import default_model_name

    version = load_version(args.model or f"{default_model_name()}:latest")
    results: dict[str, list[Measured]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as scratch:
        folder = Path(scratch)
        source = folder / "rows.parquet"
        # Row groups of 128 Ki rows, as Spark and most writers make them: Spark splits a file
        # only between row groups.
        pq.write_table(
            pa.Table.from_pandas(
                make_rows(version, args.rows, args.bad_share), preserve_index=False
            ),
            source,
            row_group_size=1 << 17,
        )
        print(
            f"{args.rows:,} rows of {version.tag}, {source.stat().st_size / 2**20:.1f} MiB Parquet"
        )
        commands: dict[str, list[str]] = {}
        outputs = {}
        for engine in args.engines.split(","):
            out = folder / f"{engine}.parquet"
            commands[f"batch --engine {engine}"] = [
                sys.executable, *BATCH, "--input", str(source), "--output", str(out),
                "--model", version.tag, "--keep", "id", "--engine", engine,
                "--workers", str(args.workers)]  # fmt: skip
            outputs[engine] = out
        target = folder / "mlflow.parquet"
        if args.mlflow_python:
            model = folder / "mlflow-model"
            exported = bentoml.models.export_model(version.tag, str(folder / "exported"), "folder")
            sample = folder / "sample.parquet"
            pq.write_table(pq.read_table(source).slice(0, 100).drop(["id"]), sample)
            subprocess.run(
                [args.mlflow_python, "-c", MLFLOW_SAVE, exported, str(model), str(sample)],
                check=True,
                capture_output=True,
            )
            commands[MLFLOW] = [
                args.mlflow_python, "-c", MLFLOW_SCORE, str(model), str(source), str(target),
                str(args.workers), *version.schema.names]  # fmt: skip
        for number in range(args.rounds):
            for name, command in commands.items():
                if name == MLFLOW:
                    shutil.rmtree(target, ignore_errors=True)  # its writer will not overwrite
                results.setdefault(name, []).append(Measured(command))
                if number == 0 and name.startswith("batch"):
                    print(results[name][-1].stdout)
            print(f"round {number + 1} of {args.rounds}: done", file=sys.stderr)
        if {"local", "spark"} <= set(outputs):
            rejects = [out.with_name(f"{out.stem}.rejects.parquet") for out in outputs.values()]
            print(
                f"spark output identical to local: {same(outputs['local'], outputs['spark'])}; "
                f"rejects identical: {same(*rejects)}"
            )
    print(table(results, args.rows))
    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} cores, load average {load:.2f} at the end")
    return 0


def median_run(runs: list[Measured]) -> Measured:
    """Return the run with the median wall time (the lower middle one of an even count)."""
    ordered = sorted(runs, key=lambda run: run.wall)
    return ordered[(len(ordered) - 1) // 2]


def table(results: dict[str, list[Measured]], rows: int) -> str:
    medians = {name: median_run(runs) for name, runs in results.items()}
    baseline = medians.get(MLFLOW)
    header = ["command", "wall s (start to exit)", "rows/s", "vs spark_udf", "ready s"]
    header += ["peak RSS MiB", "CPU s", "every run's wall s"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for name, measured in medians.items():
        walls = ", ".join(f"{run.wall:.2f}" for run in results[name])
        rate = rows / measured.wall
        ratio = f"{rate / (rows / baseline.wall):.2f}x" if baseline else "n/a"
        ready = measured.ready()
        lines.append(
            f"| {name} | {measured.wall:.2f} | {rate:,.0f} | {ratio} | "
            f"{'n/a' if ready is None else f'{ready:.2f}'} | "
            f"{measured.peak_rss / 2**20:,.0f} | {measured.cpu:.1f} | {walls} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
