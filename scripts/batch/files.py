"""The files of a batch run: formats by extension, where outputs go, the tally."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from service.errors import UserError

FORMATS = {".csv": "csv", ".parquet": "parquet"}


@dataclass(frozen=True)
class Outputs:
    """Where the scored rows and the rejects go, and in which format."""

    scored: Path
    scored_format: str
    rejects: Path
    rejects_format: str


@dataclass
class Tally:
    """What a run did: rows read and scored, rejected rows per (expectation, column), start-up."""

    engine: str = ""
    startup: float = 0.0  # seconds until the engine could score: model loaded, session up
    elapsed: float = 0.0  # seconds from the start of the run to its end
    rows_read: int = 0
    rows_scored: int = 0
    rejected_by: Counter = field(default_factory=Counter)
    # What the user should know beside the counts (a killed run's leftovers settled), one
    # sentence each.
    notes: list[str] = field(default_factory=list)

    @property
    def rows_rejected(self) -> int:
        return self.rows_read - self.rows_scored


def _known() -> str:
    return " or ".join(FORMATS)


def format_of(path: Path, *, role: str) -> str:
    """Return "csv" or "parquet" for an input or output path, by its extension."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UserError(
            f"{role} {path} has no known extension; name it {_known()} "
            f"(the extension picks the format)"
        )
    return fmt


def input_format(path: Path) -> str:
    """Return the input's format; a local path is checked now, a URI (hdfs://, s3a://) by Spark."""
    text = str(path)
    if "://" in text:
        fmt = FORMATS.get(Path(text).suffix.lower())
        if fmt is None:
            raise UserError(f"input {text} has no known extension; name it .csv or .parquet")
        return fmt
    return input_parts(path)[0]


def input_parts(path: Path) -> tuple[str, list[Path]]:
    """Return the format of an input file or folder of parts and its files, in name order.

    A folder takes its format from its own extension (`scores.parquet/`, as Spark writes) or,
    without one, from its parts; files starting with `_` or `.` (`_SUCCESS`, checksums) are not
    data.
    """
    if not path.exists():
        raise UserError(f"input {path} does not exist; pass --input FILE or FOLDER")
    if path.is_file():
        return format_of(path, role="input"), [path]
    parts = sorted(
        child
        for child in path.iterdir()
        if child.is_file() and not child.name.startswith(("_", "."))
    )
    formats = {FORMATS.get(part.suffix.lower()) for part in parts}
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        if len(formats) != 1 or None in formats:
            raise UserError(
                f"input folder {path} must hold parts of one format ({_known()}); "
                f"it holds {', '.join(sorted(p.name for p in parts)[:5]) or 'no files'}"
            )
        fmt = formats.pop()
    parts = [part for part in parts if FORMATS.get(part.suffix.lower()) in (fmt, None)]
    if not parts:
        raise UserError(f"input folder {path} holds no {fmt} parts")
    return fmt, parts


def default_rejects(output: Path) -> Path:
    """Return the rejects path beside OUT: `scores.parquet` gives `scores.rejects.parquet`."""
    return output.with_name(f"{output.stem}.rejects{output.suffix}")
