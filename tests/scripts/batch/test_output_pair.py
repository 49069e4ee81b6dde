"""The output pair of a batch run: moved in together or not at all, signals held while it is,
and what a killed run left settled by the next one. Real files in tmp_path; no model."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.batch.cli import signals_stop_the_run
from scripts.batch.output_pair import (
    TEST_SIGNAL_IN_COMMIT,
    Interrupted,
    LocalPaths,
    OutputPair,
    signals_held,
)
from service.errors import UserError


def _pair(folder: Path) -> OutputPair:
    return OutputPair(str(folder / "scores.csv"), str(folder / "scores.rejects.csv"), LocalPaths())


def _old_pair(folder: Path) -> None:
    (folder / "scores.csv").mkdir()  # a previous Spark run left folders of parts
    (folder / "scores.csv" / "part-0.csv").write_text("old scored")
    (folder / "scores.rejects.csv").mkdir()
    (folder / "scores.rejects.csv" / "part-0.csv").write_text("old rejects")


def _written(pair: OutputPair) -> None:
    Path(pair.staged[0]).write_text("new scored")
    Path(pair.staged[1]).write_text("new rejects")


def _on_disk(folder: Path) -> dict[str, str]:
    """Return every name in `folder` (hidden ones too) and what it holds."""
    found = {}
    for path in sorted(folder.iterdir()):
        found[path.name] = (path / "part-0.csv").read_text() if path.is_dir() else path.read_text()
    return found


NEW = {"scores.csv": "new scored", "scores.rejects.csv": "new rejects"}
OLD = {"scores.csv": "old scored", "scores.rejects.csv": "old rejects"}


def test_a_commit_replaces_the_old_pair_and_leaves_nothing_hidden(tmp_path):
    _old_pair(tmp_path)
    pair = _pair(tmp_path)
    assert pair.prepare() == []
    _written(pair)
    assert _on_disk(tmp_path) == {
        **OLD,
        Path(pair.staged[0]).name: "new scored",
        Path(pair.staged[1]).name: "new rejects",
    }
    assert pair.commit() == []
    assert _on_disk(tmp_path) == NEW


def test_a_discarded_pair_leaves_the_old_one_and_nothing_hidden(tmp_path):
    _old_pair(tmp_path)
    pair = _pair(tmp_path)
    Path(pair.staged[0]).write_text("half")  # the rejects were never started
    pair.discard(KeyboardInterrupt())
    assert _on_disk(tmp_path) == OLD


def test_a_pair_needs_its_folder(tmp_path):
    with pytest.raises(UserError, match="output folder .*nowhere does not exist"):
        OutputPair(
            str(tmp_path / "nowhere" / "a.csv"), str(tmp_path / "b.csv"), LocalPaths()
        ).prepare()


class FailingRename(LocalPaths):
    """The local filesystem, but the Nth rename fails as a full or broken disk would."""

    def __init__(self, failing: int) -> None:
        self.renames = 0
        self.failing = failing

    def rename(self, source: str, target: str) -> None:
        self.renames += 1
        if self.renames == self.failing:
            raise OSError(5, "Input/output error")
        super().rename(source, target)


def test_a_rename_that_fails_mid_commit_puts_the_old_pair_back(tmp_path):
    _old_pair(tmp_path)
    pair = OutputPair(
        str(tmp_path / "scores.csv"), str(tmp_path / "scores.rejects.csv"), FailingRename(4)
    )
    _written(pair)
    with pytest.raises(UserError, match="could not move the new outputs into place"):
        pair.commit()
    pair.discard(UserError("failed"))
    assert _on_disk(tmp_path) == OLD


def test_a_signal_is_held_until_the_block_ends():
    order = []
    previous = signal.signal(signal.SIGTERM, lambda *_: order.append("handled"))
    try:
        with signals_held():
            os.kill(os.getpid(), signal.SIGTERM)
            order.append("block done")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert order == ["block done", "handled"]


def test_a_sigterm_between_the_renames_ends_the_run_after_both_are_in(tmp_path, monkeypatch):
    # Step 3 moves the new scored output in; step 4, the rejects.
    monkeypatch.setenv(TEST_SIGNAL_IN_COMMIT, "3:TERM")
    _old_pair(tmp_path)
    pair = _pair(tmp_path)
    _written(pair)
    with signals_stop_the_run(), pytest.raises(Interrupted) as stopped:
        pair.commit()
    assert stopped.value.signal == signal.SIGTERM and stopped.value.written
    assert _on_disk(tmp_path) == NEW


def _dead_pid() -> int:
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    return done.pid


def _killed_run(folder: Path, pid: int, names: dict[str, str]) -> None:
    """Lay out what a run killed mid-commit left: `names` maps the kind of file to its text."""
    host = OutputPair(str(folder / "x"), str(folder / "y"), LocalPaths()).run.split(".")[1]
    run = f"{pid}.{host}.0123abcd"
    for key, text in names.items():
        target, kind = key.split(":")
        (folder / f".{target}.{run}.{kind}").write_text(text)


def test_a_run_killed_before_the_new_scored_output_moved_in_leaves_the_old_pair(tmp_path):
    # Killed after step 2: both old outputs aside, both new ones whole but hidden.
    _killed_run(
        tmp_path,
        _dead_pid(),
        {
            "scores.csv:old": "old scored",
            "scores.rejects.csv:old": "old rejects",
            "scores.csv:partial": "new scored",
            "scores.rejects.csv:partial": "new rejects",
        },
    )
    (note,) = _pair(tmp_path).prepare()
    assert "put the previous outputs back" in note
    assert _on_disk(tmp_path) == OLD


def test_a_run_killed_while_writing_leaves_the_old_pair(tmp_path):
    _old_pair(tmp_path)
    _killed_run(tmp_path, _dead_pid(), {"scores.csv:partial": "half"})
    (note,) = _pair(tmp_path).prepare()
    assert "kept the previous outputs" in note
    assert _on_disk(tmp_path) == OLD


def test_a_run_killed_between_the_two_new_renames_is_finished(tmp_path):
    # Killed after step 3: the new scored output is in, the new rejects still hidden.
    (tmp_path / "scores.csv").write_text("new scored")
    _killed_run(
        tmp_path,
        _dead_pid(),
        {
            "scores.csv:old": "old scored",
            "scores.rejects.csv:old": "old rejects",
            "scores.rejects.csv:partial": "new rejects",
        },
    )
    (note,) = _pair(tmp_path).prepare()
    assert "finished putting in place" in note
    assert _on_disk(tmp_path) == NEW


def test_the_leftovers_of_a_run_still_going_are_left_alone(tmp_path):
    _killed_run(tmp_path, os.getppid(), {"scores.csv:partial": "being written"})
    before = _on_disk(tmp_path)
    with pytest.raises(UserError, match=rf"another batch run \(pid {os.getppid()} on .*\) is"):
        _pair(tmp_path).prepare()
    assert _on_disk(tmp_path) == before
