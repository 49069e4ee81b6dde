"""Batch runs that go wrong, for real: a signal while the outputs are written or moved in, a
SIGKILL between two renames, a ragged or header-only CSV, a read-only or full output folder.

Each one ends with the previous pair of outputs or the new one (never one of each), nothing
hidden left beside them, and, for a fault, one line on stderr that names the file, the line
or the folder and the fix."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from support.batch_runs import run_batch

from scripts.batch.cli import main
from scripts.batch.output_pair import TEST_SIGNAL_IN_COMMIT, LocalPaths, OutputPair
from scripts.pipeline.params import PROJECT_ROOT

pytestmark = pytest.mark.integration

IRIS = PROJECT_ROOT / "data" / "iris.csv"
PAIR = ["out.parquet", "out.rejects.parquet"]


def _counts(stdout: str) -> tuple[int, int]:
    """Return the scored and rejected rows a run's summary printed."""
    scored = re.search(r"^scored\s+([\d,]+) rows", stdout, re.MULTILINE)
    rejected = re.search(r"^rejected\s+([\d,]+) rows", stdout, re.MULTILINE)
    assert scored and rejected, stdout
    return int(scored[1].replace(",", "")), int(rejected[1].replace(",", ""))


def _rows(path: Path) -> int:
    """Return the rows of one output: a file (local engine) or a folder of parts (Spark)."""
    parts = sorted(path.glob("part-*")) if path.is_dir() else [path]
    if path.suffix == ".parquet":
        return sum(pq.read_metadata(part).num_rows for part in parts)
    return sum(len(pd.read_csv(part)) for part in parts)


def _pair_on_disk(folder: Path) -> tuple[int, int]:
    """Return the rows of the pair in `folder`, which must hold nothing else (nothing hidden)."""
    assert sorted(p.name for p in folder.iterdir()) == PAIR
    return _rows(folder / PAIR[0]), _rows(folder / PAIR[1])


def _one_line(stderr: str, prefix: str) -> str:
    """Return the run's own line; Spark's start-up banner may come before it, nothing else."""
    assert "Traceback" not in stderr and "\tat " not in stderr, stderr
    (line,) = [line for line in stderr.splitlines() if line.startswith(prefix)]
    return line


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """The previous run's input (150 rows, none rejected), the next run's (150, 3 rejected) and a
    big one (1,000,000 rows, 1,000 rejected), long enough to be stopped while it writes."""
    folder = tmp_path_factory.mktemp("batch-inputs")
    iris = pd.read_csv(IRIS)
    iris.to_csv(folder / "old.csv", index=False)
    bad = iris.copy()
    bad.loc[[3, 50, 100], "sepal_length_cm"] = 99.0
    bad.to_csv(folder / "new.csv", index=False)
    big = iris.sample(1_000_000, replace=True, random_state=0).reset_index(drop=True)
    big.loc[::1000, "sepal_length_cm"] = 99.0
    big.to_parquet(folder / "big.parquet")
    return {"old": folder / "old.csv", "new": folder / "new.csv", "big": folder / "big.parquet"}


def _old_pair(iris_run, inputs, out: Path) -> tuple[int, int]:
    done = run_batch("--input", str(inputs["old"]), "--output", str(out), "--model", iris_run.tag)
    assert done.returncode == 0, done.stderr
    assert _counts(done.stdout) == (150, 0)
    return _counts(done.stdout)


def _stop_while_writing(argv: list[str], folder: Path, number: int) -> subprocess.Popen:
    """Start the command, and send it `number` once its hidden scored output exists."""
    run = subprocess.Popen(
        [sys.executable, "-m", "scripts.batch", *argv],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not any(p.name.endswith(".partial") for p in folder.iterdir()):
            assert run.poll() is None, f"the run ended before it wrote: {run.communicate()}"
            assert time.monotonic() < deadline, "no partial output appeared"
            time.sleep(0.02)
        time.sleep(0.3)  # into the write itself
        assert run.poll() is None, "the run finished before the signal"
        run.send_signal(number)
        run.wait(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    return run


@pytest.mark.parametrize(
    ("engine", "number"),
    [("local", signal.SIGTERM), ("local", signal.SIGINT), ("spark", signal.SIGTERM)],
)
def test_a_signal_while_the_outputs_are_written_leaves_the_old_pair(
    iris_run, inputs, tmp_path, engine, number
):
    out = tmp_path / PAIR[0]
    old = _old_pair(iris_run, inputs, out)
    argv = ["--input", str(inputs["big"]), "--output", str(out), "--model", iris_run.tag,
            "--engine", engine]  # fmt: skip
    run = _stop_while_writing(argv, tmp_path, number)
    assert run.returncode == 128 + number
    line = _one_line(run.stderr.read(), "batch interrupted")
    assert line == (
        f"batch interrupted by {signal.Signals(number).name} before it had written its "
        "outputs; the previous ones are as they were"
    )
    assert _pair_on_disk(tmp_path) == old


@pytest.mark.parametrize("engine", ["local", "spark"])
def test_a_sigterm_between_the_two_renames_waits_until_the_new_pair_is_in(
    iris_run, inputs, tmp_path, engine
):
    out = tmp_path / PAIR[0]
    _old_pair(iris_run, inputs, out)
    # After step 3 of the commit: the new scored output moved in, the new rejects not yet.
    done = run_batch(
        "--input", str(inputs["new"]), "--output", str(out), "--model", iris_run.tag,
        "--engine", engine, env={TEST_SIGNAL_IN_COMMIT: "3:TERM"},
    )  # fmt: skip
    assert done.returncode == 128 + signal.SIGTERM
    line = _one_line(done.stderr, "batch interrupted")
    assert line == "batch interrupted by SIGTERM after both outputs were written"
    assert _pair_on_disk(tmp_path) == (147, 3)


def test_a_run_killed_after_moving_the_old_pair_aside_gets_it_back(iris_run, inputs, tmp_path):
    out = tmp_path / PAIR[0]
    old = _old_pair(iris_run, inputs, out)
    # After step 2: both old outputs aside, the new ones whole and hidden; SIGKILL runs no code.
    done = run_batch(
        "--input", str(inputs["new"]), "--output", str(out), "--model", iris_run.tag,
        env={TEST_SIGNAL_IN_COMMIT: "2:KILL"},
    )  # fmt: skip
    assert done.returncode == -signal.SIGKILL
    assert not (tmp_path / PAIR[0]).exists() and not (tmp_path / PAIR[1]).exists()
    pair = OutputPair(str(out), str(tmp_path / PAIR[1]), LocalPaths())
    (note,) = pair.prepare()  # what the next run does first
    assert re.fullmatch(
        r"removed the partial outputs of run \d+, killed before it finished; put the previous "
        r"outputs back",
        note,
    )
    assert _pair_on_disk(tmp_path) == old


def test_a_run_killed_between_the_two_new_renames_is_finished_by_the_next(
    iris_run, inputs, tmp_path
):
    out = tmp_path / PAIR[0]
    _old_pair(iris_run, inputs, out)
    killed = run_batch(
        "--input", str(inputs["new"]), "--output", str(out), "--model", iris_run.tag,
        env={TEST_SIGNAL_IN_COMMIT: "3:KILL"},
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL
    hidden = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert len(hidden) == 3  # both old outputs aside, the new rejects not moved in
    done = run_batch("--input", str(inputs["old"]), "--output", str(out), "--model", iris_run.tag)
    assert done.returncode == 0, done.stderr
    assert re.search(r"^note +finished putting in place the outputs of run \d+", done.stdout, re.M)
    assert _pair_on_disk(tmp_path) == _counts(done.stdout)


def _ragged(tmp_path: Path, line: str) -> Path:
    lines = IRIS.read_text().splitlines()
    lines[40] = line  # line 41 of the file, the header being line 1
    path = tmp_path / "ragged.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(("line", "fields"), [("5.1,3.5,1.4", 3), ("5.1,3.5,1.4,0.2,x,y", 6)])
def test_a_ragged_csv_line_is_named_by_its_number(iris_run, tmp_path, line, fields):
    path = _ragged(tmp_path, line)
    done = run_batch("--input", str(path), "--output", str(tmp_path / "out.csv"), "--model",
                  iris_run.tag)  # fmt: skip
    assert done.returncode == 1
    assert _one_line(done.stderr, "batch failed") == (
        f"batch failed: input {path} line 41 has {fields} fields where its header has 5; fix "
        "or remove that line (a value holding a comma needs double quotes)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ragged.csv"]


def test_a_ragged_csv_line_stops_a_spark_run_too(spark, iris_run, tmp_path, capfd):
    # Spark's CSV reader parses only the columns a query needs: this short line passed as gaps.
    path = _ragged(tmp_path, "5.1,3.5,1.4")
    argv = ["--input", str(path), "--output", str(tmp_path / "out.csv"), "--model", iris_run.tag,
            "--engine", "spark"]  # fmt: skip
    assert main(argv) == 1
    assert _one_line(capfd.readouterr().err, "batch failed") == (
        f"batch failed: input {path} has a line whose fields do not match its header: "
        "'5.1,3.5,1.4'; fix or remove that line (a value holding a comma needs double quotes)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ragged.csv"]
    assert spark.conf.get("spark.sql.csv.parser.columnPruning.enabled") == "true"


def _header_only(tmp_path: Path) -> Path:
    path = tmp_path / "header.csv"
    path.write_text(IRIS.read_text().splitlines()[0] + "\n")
    return path


def _read_csv(path: Path) -> pd.DataFrame:
    parts = sorted(path.glob("part-*")) if path.is_dir() else [path]
    return pd.concat([pd.read_csv(part) for part in parts])


def _assert_empty_pair(folder: Path, summary: str) -> None:
    assert _counts(summary) == (0, 0)
    features = ["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"]
    scored, rejects = _read_csv(folder / "out.csv"), _read_csv(folder / "out.rejects.csv")
    assert len(scored) == len(rejects) == 0
    assert list(scored.columns) == [
        *features, "prediction", "probability_setosa", "probability_versicolor",
        "probability_virginica", "model_version",
    ]  # fmt: skip
    assert list(rejects.columns) == [
        *features, "failed_expectations", "failed_columns", "model_version"
    ]  # fmt: skip


def test_a_header_only_csv_gives_two_empty_outputs(iris_run, tmp_path):
    path = _header_only(tmp_path)
    done = run_batch("--input", str(path), "--output", str(tmp_path / "out.csv"), "--model",
                  iris_run.tag)  # fmt: skip
    assert done.returncode == 0, done.stderr
    _assert_empty_pair(tmp_path, done.stdout)


def test_a_header_only_csv_gives_two_empty_outputs_on_spark(spark, iris_run, tmp_path, capsys):
    path = _header_only(tmp_path)
    argv = ["--input", str(path), "--output", str(tmp_path / "out.csv"), "--model", iris_run.tag,
            "--engine", "spark"]  # fmt: skip
    assert main(argv) == 0
    _assert_empty_pair(tmp_path, capsys.readouterr().out)


@pytest.fixture
def mount(tmp_path):
    """Mount a tmpfs with the given options in tmp_path; unmounted at the end."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = []

    def mount_one(name: str, options: str) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], check=True)
        mounted.append(folder)
        return folder

    yield mount_one
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], check=True)


@pytest.mark.parametrize("role", ["--output", "--rejects"])
def test_an_output_folder_on_a_read_only_filesystem_is_named(iris_run, tmp_path, mount, role):
    read_only = mount("read-only", "size=1m,ro")
    paths = {"--output": tmp_path / "out.csv", "--rejects": tmp_path / "out.rejects.csv"}
    paths[role] = read_only / paths[role].name
    done = run_batch(
        "--input", str(IRIS), "--output", str(paths["--output"]),
        "--rejects", str(paths["--rejects"]), "--model", iris_run.tag,
    )  # fmt: skip
    assert done.returncode == 1
    assert _one_line(done.stderr, "batch failed") == (
        f"batch failed: output folder {read_only} is on a read-only filesystem; pick a folder "
        f"you can write to with {role}"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["read-only"]


def test_an_output_folder_on_a_read_only_filesystem_is_named_on_spark(
    spark, iris_run, tmp_path, mount, capfd
):
    read_only = mount("read-only", "size=1m,ro")
    argv = ["--input", str(IRIS), "--output", str(read_only / "out.parquet"),
            "--model", iris_run.tag, "--engine", "spark"]  # fmt: skip
    assert main(argv) == 1
    assert _one_line(capfd.readouterr().err, "batch failed") == (
        f"batch failed: output folder {read_only} is on a read-only filesystem; pick a folder "
        "you can write to with --output"
    )


def test_a_full_disk_while_writing_is_one_line_and_leaves_nothing(iris_run, tmp_path, mount):
    small = mount("small", "size=64k")
    rows = pd.read_csv(IRIS).sample(20_000, replace=True, random_state=1)
    rows.to_csv(tmp_path / "in.csv", index=False)
    out = small / "out.csv"
    done = run_batch("--input", str(tmp_path / "in.csv"), "--output", str(out), "--model",
                  iris_run.tag)  # fmt: skip
    assert done.returncode == 1
    assert _one_line(done.stderr, "batch failed") == (
        f"batch failed: could not write {out}: No space left on device; free space in {small} "
        "or pick another folder"
    )
    assert list(small.iterdir()) == []
