"""Aliases of a model's versions (`champion`, `previous`, any name a user adds) and their history.

BentoML's store has none: `latest` is its only pointer, and labels are frozen once written. So
each model name gets one small JSON file in a folder of the store's home
(`$BENTOML_HOME/aliases/<name>.json`), and a store travels with its aliases:

    {"name": "iris",
     "aliases": {"champion": "<version>", "previous": "<version>"},
     "history": [{"time": "2026-11-02T10:00:00+00:00", "alias": "champion",
                  "old": null, "new": "<version>", "reason": "first version"}]}

Every change reads, edits and replaces the file under an exclusive `flock` on a lock file
beside it, and the file is replaced with `os.replace` from a temporary file in the same folder:
a reader sees the old file or the new one, never half of one, and two writers cannot lose each
other's update. Nothing here imports BentoML; `service/model/store.py` says where the folder is.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from service.model.version import ModelStoreError

CHAMPION = "champion"
PREVIOUS = "previous"
# `latest` is BentoML's own pointer; an alias of that name would shadow it.
RESERVED = frozenset({"latest"})
# Lowercase like BentoML's versions, so `name:alias` reads as a tag does.
ALIAS_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,62}")


def check_alias_name(alias: str) -> str:
    """Return `alias` when it can name a version, or raise saying what an alias may be."""
    if alias in RESERVED or not ALIAS_PATTERN.fullmatch(alias):
        raise ModelStoreError(
            f"{alias!r} cannot be an alias: use lowercase letters, digits, '-' and '_', "
            f"starting with a letter (and not {', '.join(sorted(RESERVED))})"
        )
    return alias


@dataclass
class AliasState:
    """What one model's alias file holds: alias to version, and every change ever made."""

    name: str
    aliases: dict[str, str] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)

    def get(self, alias: str) -> str | None:
        return self.aliases.get(alias)

    def aliases_of(self, version: str) -> list[str]:
        """Return the aliases that point at `version`, champion first."""
        return sorted(
            (alias for alias, target in self.aliases.items() if target == version),
            key=lambda alias: (alias != CHAMPION, alias != PREVIOUS, alias),
        )

    def point(self, alias: str, version: str | None, reason: str) -> None:
        """Point `alias` at `version` (None removes it), recording the change in the history."""
        check_alias_name(alias)
        old = self.aliases.get(alias)
        if old == version:
            return
        if version is None:
            del self.aliases[alias]
        else:
            self.aliases[alias] = version
        self.history.append(
            {
                "time": datetime.now(UTC).isoformat(timespec="seconds"),
                "alias": alias,
                "old": old,
                "new": version,
                "reason": reason,
            }
        )

    def promote(self, version: str, reason: str) -> None:
        """Make `version` the champion; the champion it replaces becomes `previous`."""
        old = self.get(CHAMPION)
        if old == version:
            raise ModelStoreError(f"{self.name}:{version} is already the champion")
        if old is not None:
            self.point(PREVIOUS, old, reason)
        self.point(CHAMPION, version, reason)

    def rollback(self) -> None:
        """Swap `champion` and `previous`, so a second rollback undoes the first."""
        champion, previous = self.get(CHAMPION), self.get(PREVIOUS)
        if previous is None:
            raise ModelStoreError(
                f"{self.name} has no previous champion to roll back to"
                + (f" (the champion is {self.name}:{champion})" if champion else "")
                + "; `make promote TAG=name:version` points the champion at any version"
            )
        self.point(CHAMPION, previous, "rollback")
        if champion is not None:
            self.point(PREVIOUS, champion, "rollback")

    def to_dict(self) -> dict:
        return {"name": self.name, "aliases": self.aliases, "history": self.history}


class AliasFile:
    """The alias file of one model name in `folder`: read it, or change it under a lock."""

    def __init__(self, folder: Path, name: str) -> None:
        self.folder = Path(folder)
        self.name = name
        self.path = self.folder / f"{name}.json"
        self._lock_path = self.folder / f".{name}.lock"

    def exists(self) -> bool:
        return self.path.is_file()

    def read(self) -> AliasState:
        """Return the aliases and history; an empty state when the file does not exist yet."""
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return AliasState(self.name)
        except (OSError, ValueError) as error:
            raise ModelStoreError(
                f"alias file {self.path} cannot be read ({error}); fix or remove it "
                "(its history is lost with it), then set the champion again with `make promote`"
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("aliases"), dict):
            raise ModelStoreError(
                f"alias file {self.path} holds no `aliases` mapping; fix or remove it"
            )
        return AliasState(self.name, dict(data["aliases"]), list(data.get("history", [])))

    @contextmanager
    def editing(self) -> Iterator[AliasState]:
        """Yield the current state under an exclusive lock; write it back when the block ends.

        The lock is taken before reading, so a read-modify-write by another process waits
        instead of overwriting this one. An exception in the block writes nothing.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self._lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                state = self.read()
                before = json.dumps(state.to_dict())  # a copy: the block edits the state in place
                yield state
                if json.dumps(state.to_dict()) != before:
                    self._replace(state)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _replace(self, state: AliasState) -> None:
        handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=f".{self.name}.")
        try:
            with os.fdopen(handle, "w") as out:
                json.dump(state.to_dict(), out, indent=2)
                out.write("\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
