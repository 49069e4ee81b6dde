"""Score a CSV or Parquet file with a model version: its suite validates each row, ONNX predicts.

python -m scripts.batch --input IN --output OUT [--model TAG|FOLDER] [--engine local|spark]
                        [--keep COL ...] [--rejects PATH]

OUT gets the --keep columns, the model's feature columns, `prediction`, `probability_<class>`
and `model_version`; a row the suite rejects goes to the rejects output instead (beside OUT
unless --rejects says where) with the expectations it broke and their columns. Formats follow
the extensions (.csv, .parquet); an input may be a folder of parts. Both outputs replace a
previous pair together, or not at all; SIGTERM and SIGHUP stop a run as Ctrl-C does.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from scripts.batch.files import (
    Outputs,
    Tally,
    default_rejects,
    format_of,
    input_format,
    input_parts,
)
from scripts.batch.output_pair import STOPPING, Interrupted
from service.errors import UserError
from service.model.version import EXPORT_MANIFEST, ModelVersion, read_exported_model
from service.settings import default_model_name

ENGINES = ("local", "spark")


def usable_cores() -> int:
    """Return the cores this process may run on (its CPU affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def load_version(model: str) -> ModelVersion:
    """Return the version `model` names: a folder export_model wrote, or a tag in the store."""
    if (Path(model) / EXPORT_MANIFEST).is_file():
        return read_exported_model(model)
    from service.model.store import find_model, load_model_version
    from service.model.version import ModelStoreError

    try:
        find_model(model)  # resolves an alias such as name:champion, as the service does
    except ModelStoreError as error:
        raise UserError(
            f"{error}. No exported version at path {model!r} either; pass --model TAG "
            "(`make models` lists them) or the folder of an exported version"
        ) from None
    return load_model_version(model)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="make batch ARGS=...",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument(
        "--input", required=True, type=Path, help="a .csv or .parquet file, or a folder of parts"
    )
    parser.add_argument(
        "--output", required=True, type=Path, help="the scored rows, .csv or .parquet"
    )
    parser.add_argument(
        "--model",
        default=None,
        help="a model tag or alias in the BentoML store (default <model_name>:champion from "
        "params.yaml), "
        "or a folder bentoml.models.export_model wrote",
    )
    parser.add_argument(
        "--engine", choices=ENGINES, default="local", help="local (default) or spark"
    )
    parser.add_argument(
        "--keep",
        nargs="+",
        action="extend",
        default=[],
        metavar="COL",
        help="a column to carry into both outputs unvalidated, never fed to the model (an id to "
        "join on); repeatable",
    )
    parser.add_argument(
        "--rejects", type=Path, help="where rejected rows go (default OUT.rejects.EXT beside OUT)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=usable_cores(),
        help="local engine: threads that score (default: the cores this process may use); "
        "spark engine: N in local[N] unless --master is given",
    )
    parser.add_argument(
        "--batch-rows", type=int, default=None, help="rows per chunk (default 100,000)"
    )
    parser.add_argument("--master", help="spark engine: the master URL (default local[WORKERS])")
    parser.add_argument(
        "--conf",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="spark engine: a Spark setting; repeatable",
    )
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error(f"--workers must be at least 1, got {args.workers}")
    if args.batch_rows is not None and args.batch_rows < 1:
        parser.error(f"--batch-rows must be at least 1, got {args.batch_rows}")
    if args.engine == "local" and (args.master or args.conf):
        parser.error("--master and --conf are for --engine spark")
    return args


def score_file(
    input_path: str | Path,
    output: str | Path,
    *,
    model: str | None = None,
    keep: list[str] | tuple[str, ...] = (),
    engine: str = "local",
    rejects: str | Path | None = None,
    workers: int | None = None,
    batch_rows: int | None = None,
    master: str | None = None,
    conf: list[str] | tuple[str, ...] = (),
) -> tuple[str, Tally, Outputs]:
    """Return the model tag, the tally and the outputs of scoring one file (`make batch`)."""
    started = time.perf_counter()
    input_path, output = Path(input_path), Path(output)
    rejects = Path(rejects) if rejects is not None else default_rejects(output)
    outputs = Outputs(
        scored=output,
        scored_format=format_of(output, role="output"),
        rejects=rejects,
        rejects_format=format_of(rejects, role="rejects output"),
    )
    if output.resolve() == rejects.resolve():
        raise UserError(f"--output and --rejects are both {output}; give them two paths")
    if engine not in ENGINES:
        raise UserError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    workers = workers or usable_cores()
    tag = model or f"{default_model_name()}:champion"
    if engine == "spark":
        from scripts.batch.spark_session import SessionStart

        input_format(input_path)  # a missing input stops the run before Spark starts
        # The JVM boots while this thread imports the engine (pyarrow, pandas) and the model.
        starting = SessionStart(master, workers, list(conf))
        try:
            from scripts.batch.spark import score_spark

            version = load_version(tag)
            tally = score_spark(
                input_path,
                outputs,
                version,
                model=model,
                keep=list(keep),
                starting=starting,
                started=started,
            )
        finally:
            starting.stop()
    else:
        from scripts.batch.local import BATCH_ROWS, score_files

        fmt, parts = input_parts(input_path)
        version = load_version(tag)
        tally = score_files(
            parts,
            fmt,
            outputs,
            version,
            keep=list(keep),
            workers=workers,
            batch_rows=batch_rows or BATCH_ROWS,
            started=started,
        )
    tally.elapsed = time.perf_counter() - started
    return version.tag, tally, outputs


def summary(tag: str, tally: Tally, outputs: Outputs) -> str:
    """Return the lines printed at the end: rows read, scored, rejected by rule, time, rate."""
    elapsed = tally.elapsed
    rate = tally.rows_read / elapsed if elapsed > 0 else 0.0
    lines = [
        f"model     {tag}",
        f"engine    {tally.engine}, ready in {tally.startup:.2f} s",
        f"read      {tally.rows_read:>12,} rows",
        f"scored    {tally.rows_scored:>12,} rows  -> {outputs.scored}",
        f"rejected  {tally.rows_rejected:>12,} rows  -> {outputs.rejects}",
    ]
    by_count = sorted(tally.rejected_by.items(), key=lambda item: (-item[1], item[0]))
    for (expectation, column), rows in by_count:
        lines.append(f"          {rows:>12,}  {expectation} on {column}")
    lines.append(f"time      {elapsed:>12.2f} s, {rate:,.0f} rows/s")
    lines.extend(f"note      {note}" for note in tally.notes)
    return "\n".join(lines)


@contextmanager
def signals_stop_the_run() -> Iterator[None]:
    """Raise SIGINT, SIGTERM and SIGHUP as `Interrupted` in the main thread while the block runs.

    A signal left at its default (or SIGINT at Python's) would end the process where it stands,
    leaving the hidden partial outputs; raised, it unwinds the run: they are removed and the
    Spark session is stopped. An ignored signal (nohup, a background job) stays ignored.
    """
    previous = {}
    for number in STOPPING:
        if signal.getsignal(number) in (signal.SIG_DFL, signal.default_int_handler):
            previous[number] = signal.signal(number, _interrupt)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _interrupt(number: int, _frame: object) -> None:
    raise Interrupted(number)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with signals_stop_the_run():
            tag, tally, outputs = score_file(
                args.input,
                args.output,
                model=args.model,
                keep=args.keep,
                engine=args.engine,
                rejects=args.rejects,
                workers=args.workers,
                batch_rows=args.batch_rows,
                master=args.master,
                conf=args.conf,
            )
    except UserError as error:
        print(f"batch failed: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as stop:
        number = getattr(stop, "signal", signal.SIGINT)
        if getattr(stop, "written", False):
            outcome = "after both outputs were written"
        else:
            outcome = "before it had written its outputs; the previous ones are as they were"
        print(f"batch interrupted by {signal.Signals(number).name} {outcome}", file=sys.stderr)
        return 128 + number
    print(summary(tag, tally, outputs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
