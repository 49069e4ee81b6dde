"""The promotion gate: a challenger against the champion on the same rows, by params.yaml's rules.

Both versions score the challenger's held-out rows, each through its own suite and predictor
(`service/scoring/core.py`, what the service runs), so the champion is judged as it serves. Rows a
suite rejects are counted and named by rule; the metrics of both are taken on the rows both
accepted. The verdict goes to `comparison.json` in the run folder and the run's index.html.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from scripts.lifecycle.promotion_rules import Rule, judge, promotion_settings
from scripts.pipeline.evaluation import classification_metrics, regression_metrics
from scripts.pipeline.training import load_split, read_features
from service.errors import UserError
from service.model.aliases import CHAMPION
from service.model.store import alias_file, load_model_version, model_versions
from service.model.version import ModelVersion, held_out_metrics, sha256_file
from service.scoring.core import Scorer

FIRST_VERSION = "first version"


def recreated_holdout(
    version: ModelVersion, repo: Path, data: Path | None = None
) -> tuple[pd.DataFrame, str]:
    """Return the version's held-out rows (target included), split again from its data file:
    `data` when given, else the path the version recorded, inside `repo`.

    The split is deterministic given the data, test_size and random_state the version recorded;
    a data file whose sha256 changed would give other rows, so it is refused. A file outside the
    project is recorded by its name only, so it is found only when `data` names it.
    """
    recorded = version.lineage.get("data_path")
    path = Path(data) if data is not None else Path(repo) / str(recorded)
    if (data is None and not recorded) or not path.is_file():
        raise UserError(
            f"{version.tag} was trained on {recorded!r}, which is not at {path}: its held-out "
            "rows cannot be recreated. Name the file with DATA=PATH, compare it in the run that "
            "exported it, or pass FORCE=1"
        )
    digest = sha256_file(path)
    if digest != version.lineage.get("data_sha256"):
        raise UserError(
            f"{path} changed since {version.tag} was trained on it (sha256 {digest[:12]}… now, "
            f"{str(version.lineage.get('data_sha256'))[:12]}… then): its held-out rows cannot "
            "be recreated. Restore the file, or pass FORCE=1 to promote without the gate"
        )
    params = version.params
    split = load_split(
        path,
        params["target"],
        params["test_size"],
        params["random_state"],
        version.schema.task,
    )
    rows = split.holdout_features.assign(**{split.schema.target: split.holdout_labels})
    source = recorded if data is None else path
    return rows.reset_index(drop=True), f"recreated from {source} (sha256 {digest[:12]}…)"


def score_version(version: ModelVersion, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, dict]:
    """Return each row's predicted label (None where rejected), the probabilities of every row
    (NaN where rejected), and the rejections by rule, scored as the service scores."""
    missing = [name for name in version.schema.names if name not in rows.columns]
    if missing:
        raise UserError(
            f"{version.tag} takes feature(s) {', '.join(missing)} that these rows lack: the two "
            "versions have different feature schemas and cannot be compared on the same rows"
        )
    scorer = Scorer(version)
    verdicts = scorer.score_rows(rows)
    labels = np.full(len(rows), None, dtype=object)
    labels[verdicts.valid] = (
        verdicts.labels.tolist() if scorer.regression else [str(label) for label in verdicts.labels]
    )
    probabilities = np.full((len(rows), len(scorer.classes)), np.nan)
    probabilities[verdicts.valid] = verdicts.probabilities
    rejected = {
        "rows": int((~verdicts.valid).sum()),
        "by_rule": [
            {"expectation": f.expectation, "column": f.column, "rows": len(f.rows)}
            for f in verdicts.failures
        ],
    }
    return labels, probabilities, rejected


def compare(
    challenger: ModelVersion,
    champion: ModelVersion,
    rows: pd.DataFrame,
    rules: list[Rule],
    rows_source: str,
) -> dict:
    """Return the comparison of two versions on `rows`, judged by `rules`."""
    target = challenger.schema.target
    task = challenger.schema.task
    if champion.schema.task != task:
        raise UserError(
            f"the challenger is a {task} model and the champion a {champion.schema.task} one: "
            "the gate cannot compare them; FORCE=1 promotes"
        )
    truth = rows[target].to_numpy() if task == "regression" else rows[target].astype(str).to_numpy()
    scored = {}
    for role, version in (("challenger", challenger), ("champion", champion)):
        scored[role] = (version, *score_version(version, rows))
    both = np.ones(len(rows), dtype=bool)
    for _, labels, _, _ in scored.values():
        both &= labels != None  # noqa: E711 - elementwise over an object array
    classes = {role: [str(c) for c in v.metadata.classes] for role, (v, *_) in scored.items()}
    if sorted(classes["challenger"]) != sorted(classes["champion"]):
        raise UserError(
            f"the versions predict different classes (challenger {classes['challenger']}, "
            f"champion {classes['champion']}): the gate cannot compare them; FORCE=1 promotes"
        )
    if not both.any():
        raise UserError(
            f"none of the {len(rows)} rows passed both versions' suites; nothing to compare on"
        )
    metrics = {}
    for role, (_, labels, probabilities, _) in scored.items():
        if task == "regression":
            computed = regression_metrics(truth[both], labels[both].astype(np.float64))
        else:
            computed = classification_metrics(
                pd.Series(truth[both]), labels[both], probabilities[both], classes[role]
            )
        metrics[role] = {name: computed[name] for name in held_out_metrics(task)}
    verdicts = judge(rules, metrics["challenger"], metrics["champion"])
    return {
        "challenger": challenger.tag,
        "champion": champion.tag,
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": {
            "source": rows_source,
            "total": len(rows),
            "compared": int(both.sum()),
            "rejected": {role: rejected for role, (_, _, _, rejected) in scored.items()},
        },
        "same_data_and_split": _same_split(challenger, champion),
        "metrics": metrics,
        "rules": verdicts,
        "passed": all(verdict["passed"] for verdict in verdicts),
        "reasons": [failure for verdict in verdicts for failure in verdict["failures"]],
    }


def rejudge(comparison: dict, rules: list[Rule]) -> dict:
    """Return a stored comparison judged again by `rules` (params.yaml may have changed); one
    `make retrain` made is judged on its recent production rows too, and passes when both do."""
    verdicts = judge(rules, comparison["metrics"]["challenger"], comparison["metrics"]["champion"])
    judged = {
        **comparison,
        "rules": verdicts,
        "passed": all(verdict["passed"] for verdict in verdicts),
        "reasons": [failure for verdict in verdicts for failure in verdict["failures"]],
    }
    if comparison.get("production"):
        return with_production(judged, rejudge(comparison["production"], rules))
    return judged


def with_production(held_out: dict, production: dict) -> dict:
    """Return the held-out comparison with the recent production rows' one inside it: it
    passes only when both do."""
    reasons = [f"on recent production rows: {reason}" for reason in production["reasons"]]
    return {
        **held_out,
        "production": production,
        "passed": bool(held_out["passed"] and production["passed"]),
        "reasons": [*held_out.get("reasons", []), *reasons],
    }


def comparison_for(
    challenger: ModelVersion,
    champion: ModelVersion,
    rules: list[Rule],
    repo: Path,
    data: Path | None = None,
) -> dict:
    """Return the comparison of `challenger` with `champion`: the one its run wrote, judged
    again by `rules`, when it is at hand and was made against this champion; else a new one, on
    held-out rows split again from `data` (or the file the challenger recorded)."""
    stored = Path(repo) / "reports" / challenger.metadata.run_id / "comparison.json"
    try:
        found = json.loads(stored.read_text())
    except (OSError, ValueError):
        found = None
    usable = (
        isinstance(found, dict)
        and found.get("challenger") == challenger.tag
        and found.get("champion") == champion.tag
        and "metrics" in found
    )
    if usable:
        return {**rejudge(found, rules), "from": str(stored)}
    rows, source = recreated_holdout(challenger, repo, data)
    return compare(challenger, champion, rows, rules, source)


def _same_split(challenger: ModelVersion, champion: ModelVersion) -> bool:
    """Return whether the champion trained on none of these rows: same data, same split."""
    keys = ("target", "test_size", "random_state")
    return challenger.lineage.get("data_sha256") == champion.lineage.get("data_sha256") and all(
        challenger.params.get(key) == champion.params.get(key) for key in keys
    )


def claim_first_champion(name: str, version: str) -> str:
    """Return the champion's version after making `version` champion if the model had none.

    A store made before aliases (versions, no alias file) adopts the newest other version, the
    one `latest` served until now, so the new version is compared with it instead of replacing it.
    """
    with alias_file(name).editing() as state:
        if state.get(CHAMPION) is None:
            others = [m.tag.version for m in model_versions(name) if m.tag.version != version]
            if others and not state.history:
                state.point(CHAMPION, others[0], "adopted: the latest version before aliases")
            else:
                state.point(CHAMPION, version, FIRST_VERSION)
        return state.get(CHAMPION)


def promote(name: str, version: str, expected_champion: str | None, reason: str) -> None:
    """Make `version` champion, unless the champion changed since it was compared."""
    with alias_file(name).editing() as state:
        current = state.get(CHAMPION)
        if current != expected_champion:
            raise UserError(
                f"the champion of {name} changed to {name}:{current} while {name}:{version} "
                f"was compared with {name}:{expected_champion}; run the promotion again"
            )
        state.promote(version, reason)


def gate_after_export(params: dict, tag: str, holdout: Path, comparison_path: Path) -> dict:
    """Return the gate's verdict on a freshly exported version, written to `comparison_path`.

    The first version of a model becomes its champion. Any later one is a challenger, compared
    with the champion on its held-out rows; with `promotion.auto_promote` it promotes itself
    when it passes.
    """
    settings = promotion_settings(params)
    name, _, version = tag.partition(":")
    champion = claim_first_champion(name, version)
    if champion == version:
        result = {"challenger": tag, "champion": None, "passed": True, "outcome": FIRST_VERSION}
    else:
        try:
            challenger = load_model_version(tag)
            result = compare(
                challenger,
                load_model_version(f"{name}:{champion}"),
                read_features(holdout, challenger.schema),
                settings.rules_for(challenger.schema.task),
                f"the run's held-out split ({holdout.name})",
            )
        except UserError as error:
            result = {"challenger": tag, "champion": f"{name}:{champion}", "passed": False}
            result |= {"error": str(error), "reasons": [str(error)]}
        result["outcome"] = "challenger"
        if result["passed"] and settings.auto_promote:
            promote(name, version, champion, "promoted (auto_promote)")
            result["outcome"] = "promoted (auto_promote)"
    comparison_path.write_text(json.dumps(result, indent=2))
    return result


def rows_sentence(rows: dict) -> str:
    """Return what the comparison's rows were: how many, from where, rejected by which suite."""
    rejected = rows["rejected"]
    return (
        f"{rows['compared']} of {rows['total']} rows compared ({rows['source']}); rejected by "
        f"the challenger's suite: {rejected['challenger']['rows']}, by the champion's: "
        f"{rejected['champion']['rows']}"
    )


def summary_lines(comparison: dict) -> list[str]:
    """Return the comparison as a few lines for the terminal: rows, each rule, the verdict."""
    if comparison.get("outcome") == FIRST_VERSION:
        return [f"{comparison['challenger']} is the model's first version: it is the champion"]
    lines = [f"challenger {comparison['challenger']} against champion {comparison['champion']}"]
    if comparison.get("rows"):
        lines.append(f"  {rows_sentence(comparison['rows'])}")
    for verdict in comparison.get("rules", []):
        mark = "pass" if verdict["passed"] else "FAIL"
        values = ", ".join(
            f"{role} {verdict[role]:.4f}" if verdict[role] is not None else f"{role} -"
            for role in ("challenger", "champion")
        )
        lines.append(f"  {mark}  {verdict['metric']}: {values}")
    if comparison.get("error"):
        lines.append(f"  not compared: {comparison['error']}")
    if comparison.get("production"):
        production = summary_lines(comparison["production"])
        lines += ["  on recent production rows:", *(f"  {line}" for line in production[1:])]
    lines.append(f"  gate: {'passed' if comparison['passed'] else 'failed'}")
    return lines
