"""A batch run's two outputs replaced together: the new complete pair or the old one, never a mix.

Both engines write under hidden names beside the targets and commit through `OutputPair`; the
local engine on the local filesystem (`LocalPaths`), Spark through Hadoop's (spark.py). A
signal stops a run the way Ctrl-C does, and is held while the pair moves in.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from service.errors import UserError

# The signals that end a run the way Ctrl-C does; SIGKILL cannot be caught (see OutputPair).
STOPPING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """A SIGTERM or SIGHUP, raised in the main thread as Ctrl-C raises KeyboardInterrupt, so a
    run unwinds the same way: partial outputs removed, the Spark session stopped."""

    def __init__(self, number: int, *, written: bool = False) -> None:
        super().__init__(signal.Signals(number).name)
        self.signal = number
        self.written = written  # it came during the commit: the new outputs are in place


class LeftBehind(UserError):
    """A run that stopped could not remove what it wrote; the message names it."""


@contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP while the block runs, then deliver them.

    Python runs signal handlers in the main thread only: a block in another thread cannot be
    cut short by one and holds nothing. An ignored signal stays ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {}
    for number in STOPPING:
        handler = signal.getsignal(number)
        if handler not in (signal.SIG_IGN, None):  # None: set outside Python, left as it is
            previous[number] = signal.signal(number, lambda got, _frame: caught.append(got))
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for number in dict.fromkeys(caught):
            signal.raise_signal(number)  # runs the handler (or the default action) now


class Paths(Protocol):
    """The filesystem an output pair lives on: local (LocalPaths) or Hadoop's (spark.py).

    Paths are strings; a failure raises OSError.
    """

    def parent(self, path: str) -> str: ...
    def child(self, folder: str, name: str) -> str: ...
    def name(self, path: str) -> str: ...
    def exists(self, path: str) -> bool: ...
    def is_folder(self, path: str) -> bool: ...
    def names(self, folder: str) -> list[str]: ...
    def rename(self, source: str, target: str) -> None: ...
    def remove(self, path: str) -> None: ...
    def unwritable(self, folder: str) -> str | None: ...


class LocalPaths:
    """The local filesystem as `Paths`."""

    def parent(self, path: str) -> str:
        return os.path.dirname(path) or "."

    def child(self, folder: str, name: str) -> str:
        return os.path.join(folder, name)

    def name(self, path: str) -> str:
        return os.path.basename(path)

    def exists(self, path: str) -> bool:
        return os.path.lexists(path)

    def is_folder(self, path: str) -> bool:
        return os.path.isdir(path)

    def names(self, folder: str) -> list[str]:
        return os.listdir(folder)

    def rename(self, source: str, target: str) -> None:
        os.rename(source, target)

    def remove(self, path: str) -> None:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)

    def unwritable(self, folder: str) -> str | None:
        """Return why `folder` cannot take new files, or None when it can."""
        return local_unwritable(folder)


def local_unwritable(folder: str) -> str | None:
    """Return why a local folder cannot take new files ("is on a read-only filesystem", "is not
    writable by this user"), or None when it can."""
    if os.access(folder, os.W_OK | os.X_OK):
        return None
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return "is on a read-only filesystem"
    except OSError:
        pass  # no filesystem flags to read: the permission is what is known
    return "is not writable by this user"


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"


def _running(pid: int, host: str) -> bool:
    """Whether the run that wrote a leftover may still be going; one on another host may be."""
    if host != _host():
        return True
    if pid == os.getpid():
        return False  # this process runs one pair at a time; a leftover of its own is dead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# For tests only: "N:SIGNAL" (e.g. "3:TERM", "3:KILL") makes a commit send itself SIGNAL right
# after its Nth step (see OutputPair.commit), so a test can stop a run between two renames.
TEST_SIGNAL_IN_COMMIT = "BATCH_TEST_SIGNAL_IN_COMMIT"


class OutputPair:
    """The scored output and the rejects, written under hidden names beside their targets and
    moved in together: a reader finds the previous pair or the new one, never one of each.

    A run writes `staged[0]` then `staged[1]`, in that order (recovery relies on it; the rejects
    cannot come first in either engine). `commit` moves the old pair aside, the new pair in and
    then deletes the old pair, with SIGINT, SIGTERM and SIGHUP held until it is done. A run
    that fails or is stopped by one of those removes what it wrote (`discard`). A SIGKILL leaves
    hidden files named after the run (`.NAME.PID.HOST.NONCE.partial` or `.old`); the next run
    with the same outputs settles them first (`prepare`).
    """

    ROLES = ("--output", "--rejects")

    def __init__(self, scored: str, rejects: str, paths: Paths) -> None:
        self.targets = (scored, rejects)
        self._paths = paths
        self.run = f"{os.getpid()}.{_host()}.{uuid.uuid4().hex[:8]}"
        self.staged = tuple(self._hidden(target, "partial") for target in self.targets)
        self._aside = tuple(self._hidden(target, "old") for target in self.targets)
        self._moved: list[tuple[str, str]] = []
        self.committed = False

    def _hidden(self, target: str, kind: str) -> str:
        paths = self._paths
        return paths.child(paths.parent(target), f".{paths.name(target)}.{self.run}.{kind}")

    def prepare(self) -> list[str]:
        """Check both folders can take the outputs and settle what killed runs left there;
        return what was done with those leftovers, one sentence each."""
        paths = self._paths
        for role, target in zip(self.ROLES, self.targets, strict=True):
            folder = paths.parent(target)
            if not paths.is_folder(folder):
                raise UserError(
                    f"output folder {folder} does not exist; create it or pick another path"
                )
            reason = paths.unwritable(folder)
            if reason is not None:
                raise UserError(
                    f"output folder {folder} {reason}; pick a folder you can write to with {role}"
                )
        try:
            return [self._settle(run, found) for run, found in self._leftovers().items()]
        except OSError as error:
            raise UserError(
                f"could not clean up after a killed batch run beside {self.targets[0]}: {error}; "
                "remove its hidden .partial and .old files by hand"
            ) from None

    def _leftovers(self) -> dict[str, dict[tuple[int, str], str]]:
        paths = self._paths
        found: dict[str, dict[tuple[int, str], str]] = {}
        for index, target in enumerate(self.targets):
            folder = paths.parent(target)
            pattern = re.compile(
                rf"\.{re.escape(paths.name(target))}\."
                r"(?P<run>\d+\.[A-Za-z0-9-]+\.[0-9a-f]{8})\.(?P<kind>partial|old)"
            )
            for name in paths.names(folder):
                match = pattern.fullmatch(name)
                if match:
                    found.setdefault(match["run"], {})[index, match["kind"]] = paths.child(
                        folder, name
                    )
        return found

    def _settle(self, run: str, found: dict[tuple[int, str], str]) -> str:
        pid, host, _ = run.split(".")
        paths = self._paths
        if _running(int(pid), host):
            where = ", ".join(sorted(found.values()))
            raise UserError(
                f"another batch run (pid {pid} on {host}) is writing {self.targets[0]}: wait for "
                f"it to end, or, if it is not running any more, remove {where}"
            )
        if (0, "partial") in found:
            # The new scored output never moved in: the old pair goes back where it was.
            restored = False
            for index, target in enumerate(self.targets):
                old = found.get((index, "old"))
                if old is not None and not paths.exists(target):
                    paths.rename(old, target)
                    restored = True
                elif old is not None:
                    paths.remove(old)
                if (index, "partial") in found:
                    paths.remove(found[index, "partial"])
            kept = "put the previous outputs back" if restored else "kept the previous outputs"
            return f"removed the partial outputs of run {pid}, killed before it finished; {kept}"
        # The new scored output had moved in, so both new files were whole: finish the move.
        if (1, "partial") in found:
            paths.rename(found[1, "partial"], self.targets[1])
        for index in range(len(self.targets)):
            if (index, "old") in found:
                paths.remove(found[index, "old"])
        return f"finished putting in place the outputs of run {pid}, killed while it did so"

    def commit(self) -> list[str]:
        """Replace the old pair with the new one, holding SIGINT, SIGTERM and SIGHUP until done;
        return what the user should know (an old copy that could not be removed).

        Steps: 1 and 2 move the old scored output and rejects aside (when there are any), 3 and
        4 move the new ones in, 5 removes the old pair. A failed rename puts back what moved.
        """
        try:
            return self._commit()
        except KeyboardInterrupt as stop:
            if not self.committed:
                raise
            number = getattr(stop, "signal", signal.SIGINT)
            raise Interrupted(number, written=True) from None

    def _commit(self) -> list[str]:
        paths = self._paths
        test_signal = _test_signal()
        notes = []
        with signals_held():
            steps = list(zip(self.targets, self._aside, strict=True))
            steps += list(zip(self.staged, self.targets, strict=True))
            try:
                for step, (source, target) in enumerate(steps, start=1):
                    if step > 2 or paths.exists(source):
                        paths.rename(source, target)
                        self._moved.append((source, target))
                    _send_test_signal(test_signal, step)
            except OSError as error:
                self._put_back(error)
                raise UserError(
                    f"could not move the new outputs into place ({error}); the previous ones "
                    f"are as they were: check {paths.parent(self.targets[0])} and run again"
                ) from None
            self.committed = True
            for aside in self._aside:
                if any(target == aside for _, target in self._moved):
                    try:
                        paths.remove(aside)
                    except OSError as error:
                        notes.append(
                            f"could not remove the previous output's copy {aside} ({error}); "
                            "the next run with these outputs removes it"
                        )
            _send_test_signal(test_signal, 5)
        return notes

    def _put_back(self, error: OSError) -> None:
        try:
            while self._moved:
                source, target = self._moved[-1]
                self._paths.rename(target, source)
                self._moved.pop()
        except OSError as again:
            # What stays is what a killed run leaves, and `discard` leaves it so: the next run
            # puts the previous pair back.
            raise UserError(
                f"could not move the new outputs into place ({error}) nor put the previous "
                f"ones back ({again}); the next run with these outputs puts them back"
            ) from None

    def discard(self, cause: BaseException) -> None:
        """Remove what this run wrote and did not commit (or, once committed, the old pair).

        What cannot be removed is named, with `cause`, in a UserError.
        """
        if self._moved and not self.committed:
            return  # a commit half done and not undone: left for the next run to settle
        leftovers = self._aside if self.committed else self.staged
        failed = []
        with signals_held():
            for path in leftovers:
                try:
                    if self._paths.exists(path):
                        self._paths.remove(path)
                except OSError as error:
                    failed.append(f"{path} ({error.strerror or error})")
        if failed:
            first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
            raise LeftBehind(
                f"{first}; and could not remove {', '.join(failed)}: remove it by hand"
            ) from None


def _test_signal() -> tuple[int, signal.Signals] | None:
    given = os.environ.get(TEST_SIGNAL_IN_COMMIT)
    if not given:
        return None
    step, _, name = given.partition(":")
    return int(step), signal.Signals[f"SIG{name}"]


def _send_test_signal(test_signal: tuple[int, signal.Signals] | None, step: int) -> None:
    if test_signal is not None and test_signal[0] == step:
        os.kill(os.getpid(), test_signal[1])
