"""A worker that cannot build its runtime stops the whole server: one line, exit code 1.

Outside a container BentoML's process restarts a worker that exits as fast as it dies, so a
model that cannot load would print its traceback in a loop (inside one, it restarts none and
stays up, never ready). Restarting mends neither a corrupt graph nor a missing library: the
worker says why in one line and asks BentoML's process, its parent, to stop every worker and
exit 1.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
from typing import NoReturn

from bentoml._internal.context import server_context

# Unused by BentoML and its process manager (circus), which stop on SIGTERM, SIGINT and SIGQUIT.
STOP_SIGNAL = signal.SIGUSR1


def in_worker() -> bool:
    """Return whether this process is a BentoML worker (it sets the index before the import)."""
    return server_context.worker_index is not None


def stop_when_a_worker_fails() -> None:
    """In BentoML's own process: on a worker's STOP_SIGNAL, stop every worker, then exit 1."""
    if in_worker():
        return

    def stop(signum, frame) -> None:
        atexit.register(_exit_failed)
        # circus stops the workers on SIGTERM; `bentoml serve` then returns, and exits 1 here.
        os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(STOP_SIGNAL, stop)


def _exit_failed() -> None:
    logging.shutdown()
    os._exit(1)


def give_up(line: str) -> NoReturn:
    """Print `line`, stop the server this worker belongs to, and exit 1."""
    if not in_worker():
        sys.exit(line)
    # One write of the whole line: with several workers failing at once, print's separate
    # writes of the text and the newline ran their lines together.
    os.write(sys.stderr.fileno(), (line + "\n").encode())
    os.kill(os.getppid(), STOP_SIGNAL)
    # Not sys.exit: inside BentoML's start-up hooks it becomes a logged traceback, not an exit.
    os._exit(1)
