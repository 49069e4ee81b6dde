"""`make models`: every stored version of a model, the newest first, with its aliases."""

from __future__ import annotations

from service.model.store import alias_file, stored_versions
from service.model.version import HELD_OUT_METRICS, REGRESSION_METRICS

COLUMNS = ("created (UTC)", "version", "aliases", "data sha256", "git commit", "estimator")


def metric_columns(name: str) -> tuple[str, ...]:
    """Return the held-out metrics `make models` shows for `name`: a classifier's, or a
    regressor's when its newest version is one."""
    versions = stored_versions(name)[0]
    newest = versions[0].info.metadata.get("metrics") or {} if versions else {}
    return REGRESSION_METRICS if "rmse" in newest else HELD_OUT_METRICS


def version_rows(name: str) -> list[list[str]]:
    """Return one row of text per version of `name`, the newest first."""
    state = alias_file(name).read()
    columns = metric_columns(name)
    rows = []
    for model in stored_versions(name)[0]:
        # Read from the store's metadata without hashing every file: a listing, not a load.
        metadata = model.info.metadata
        metrics = metadata.get("metrics") or {}
        rows.append(
            [
                model.info.creation_time.strftime("%Y-%m-%d %H:%M:%S"),
                str(model.tag),
                ",".join(state.aliases_of(model.tag.version)) or "-",
                str(metadata.get("data_sha256") or "-")[:12],
                str(metadata.get("git_commit") or "-")[:10],
                model.info.labels.get("estimator", "-"),
                *(_number(metrics.get(metric)) for metric in columns),
            ]
        )
    return rows


def versions_table(name: str) -> str:
    """Return the versions of `name` as an aligned text table, or a line saying there are none,
    then a line for each broken version folder saying how to remove it."""
    rows = version_rows(name)
    broken = [str(version) for version in stored_versions(name)[1]]
    if not rows:
        return "\n".join(
            [f"no version of {name} in the store; `make pipeline` trains and exports one", *broken]
        )
    header = [*COLUMNS, *metric_columns(name)]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    table = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join([*table, *broken])


def _number(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "-"
