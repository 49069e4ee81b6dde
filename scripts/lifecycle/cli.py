"""The model's lifecycle on the BentoML store: promote a challenger, roll back, list versions.

python -m scripts.lifecycle promote [--name NAME] [--tag NAME:VERSION] [--data PATH]
                                    [--shadow-url URL] [--force]
                                                                     (make promote)
python -m scripts.lifecycle rollback [--name NAME]                                 (make rollback)
python -m scripts.lifecycle models [--name NAME]                                   (make models)
python -m scripts.lifecycle alias ALIAS --tag NAME:VERSION     point any other alias at a version
python -m scripts.lifecycle history [--name NAME]              every change of the model's aliases
python -m scripts.lifecycle resolve NAME:ALIAS                 print the version a tag names
python -m scripts.lifecycle data NAME:VERSION [--output PATH]  its DVC data version, back again

NAME defaults to `model_name` in params.yaml. The aliases live in $BENTOML_HOME/aliases/.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from service.errors import UserError
from service.model.aliases import CHAMPION, PREVIOUS, check_alias_name

# The service loads its model at start-up, so an alias change reaches it only on a restart.
RESTART = "a running service keeps the version it loaded: restart `make serve`, or `make bento`"


def promote_command(
    name: str,
    tag: str | None,
    force: bool,
    data: Path | None = None,
    shadow_url: str | None = None,
) -> int:
    from scripts.lifecycle.promotion import comparison_for, promote, summary_lines
    from scripts.lifecycle.promotion_rules import promotion_settings
    from scripts.pipeline.params import PROJECT_ROOT, load_params
    from service.model.store import alias_file, find_model, load_model_version

    champion = alias_file(name).read().get(CHAMPION)
    model = find_model(tag) if tag else latest_challenger(name, champion)
    if model.tag.name != name:
        raise UserError(f"{model.tag} is a version of {model.tag.name}, not of {name}")
    version = model.tag.version
    if version == champion:
        raise UserError(f"{name}:{version} is already the champion")
    passed = True
    if champion is not None:
        params = load_params()
        settings = promotion_settings(params)
        try:
            challenger = load_model_version(str(model.tag))
            comparison = comparison_for(
                challenger,
                load_model_version(f"{name}:{champion}"),
                settings.rules_for(challenger.schema.task),
                PROJECT_ROOT,
                data,
            )
        except UserError as error:
            if not force:
                raise
            comparison = {"passed": False, "reasons": [str(error)]}
            print(f"not compared: {error}")
        else:
            print("\n".join(summary_lines(comparison)))
        passed = comparison["passed"]
        if shadow_url:
            shadow = shadow_verdict(shadow_url, str(model.tag), params)
            passed = passed and shadow["passed"]
            comparison["reasons"] = [*comparison.get("reasons", []), *shadow["reasons"]]
        if not passed and not force:
            print(
                f"promotion refused: {model.tag} does not pass the promotion gate against "
                f"{name}:{champion}:\n  " + "\n  ".join(comparison["reasons"]) + "\n"
                "Rules: promotion.rules (a regressor's: promotion.regression_rules) and "
                "promotion.shadow in params.yaml. FORCE=1 promotes anyway (and records it).",
                file=sys.stderr,
            )
            return 1
    promote(name, version, champion, "promoted" if passed else "promoted (forced)")
    previous = f"; previous: {name}:{champion}" if champion else " (the first champion)"
    forced = " by force, past a failed gate" if not passed else ""
    print(f"{name}:{version} is the champion now{forced}{previous}\n{RESTART}")
    return 0


def shadow_verdict(url: str, candidate: str, params: dict) -> dict:
    """Return the shadow's evidence for `candidate` in the service at `url`, judged and printed."""
    from scripts.lifecycle.shadow_evidence import ShadowRules, judge_shadow, shadow_evidence
    from scripts.monitor.metrics_text import fetch

    judged = judge_shadow(
        shadow_evidence(fetch(url), candidate), ShadowRules.from_params(params["promotion"])
    )
    agreement = judged["agreement"]
    shown = "-" if agreement is None else f"{agreement:.4f}"
    print(
        f"shadow at {url}: {judged['rows']} rows scored beside the main model, agreement "
        f"{shown}, requests {judged['requests']}: {'pass' if judged['passed'] else 'FAIL'}"
    )
    return judged


def latest_challenger(name: str, champion: str | None):
    """Return the newest version created after the champion, or raise saying there is none."""
    from service.model.store import model_versions

    versions = model_versions(name)
    if not versions:
        raise UserError(f"no version of {name} in the store; run `make pipeline` first")
    if champion is None:
        return versions[0]
    for model in versions:
        if model.tag.version == champion:
            break
        return model
    raise UserError(
        f"no version of {name} is newer than the champion {name}:{champion}; train one with "
        "`make pipeline`, or name an older one with TAG=name:version"
    )


def rollback_command(name: str) -> int:
    from service.model.store import alias_file, find_model

    aliases = alias_file(name)
    previous = aliases.read().get(PREVIOUS)
    if previous is not None:
        find_model(f"{name}:{previous}")  # still in the store
    with aliases.editing() as state:
        state.rollback()
        champion, previous = state.get(CHAMPION), state.get(PREVIOUS)
    print(f"{name}:{champion} serves as champion now; previous: {name}:{previous}\n{RESTART}")
    return 0


def alias_command(alias: str, tag: str) -> int:
    from service.model.store import alias_file, find_model

    check_alias_name(alias)
    if alias in (CHAMPION, PREVIOUS):
        raise UserError(
            f"{alias} moves only through `make promote` (the gate; FORCE=1 overrides it) and "
            "`make rollback`, so its history stays true"
        )
    model = find_model(tag)
    with alias_file(model.tag.name).editing() as state:
        state.point(alias, model.tag.version, "set by hand")
    print(f"{model.tag.name}:{alias} -> {model.tag}")
    return 0


def history_command(name: str) -> int:
    from service.model.store import alias_file

    aliases = alias_file(name)
    for change in aliases.read().history:
        print(
            f"{change['time']}  {change['alias']:<10} {change['old'] or '-':<16} -> "
            f"{change['new'] or '-':<16} {change['reason']}"
        )
    print(f"({aliases.path})")
    return 0


def models_command(name: str) -> int:
    from scripts.lifecycle.model_table import versions_table

    print(versions_table(name))
    return 0


# `resolve`'s exit code when the store holds no version of the name at all: the one case in
# which `make serve` and `make bento` train a model first. Any other failure (an unreadable
# alias file, a version gone from the store) is a line to read, not a reason to train.
NOTHING_STORED = 3


def data_command(tag: str, output: Path | None) -> int:
    from scripts.export.data_version import check_out
    from scripts.pipeline.params import PROJECT_ROOT
    from service.model.store import load_model_version

    version = load_model_version(tag)
    recorded = version.lineage.get("data_version") or {"reason": "exported before DVC lineage"}
    default = PROJECT_ROOT / "data" / "restored" / f"{tag.replace(':', '-')}.csv"
    target = check_out(PROJECT_ROOT, recorded, output or default)
    print(f"{target}: the rows {version.tag} trained on (md5 {recorded['md5']})")
    return 0


def resolve_command(tag: str) -> int:
    from service.model.store import bentoml_home, find_model, model_versions

    name = tag.partition(":")[0]
    if not model_versions(name):
        print(
            f"the model store at {bentoml_home()} holds no version of {name} yet",
            file=sys.stderr,
        )
        return NOTHING_STORED
    print(find_model(tag).tag)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    named = argparse.ArgumentParser(add_help=False)
    named.add_argument("--name", help="the model name (default: model_name in params.yaml)")
    promote = commands.add_parser("promote", parents=[named], help="promote a challenger")
    promote.add_argument("--tag", help="the version to promote (default: the newest challenger)")
    promote.add_argument("--force", action="store_true", help="promote past a failed gate")
    promote.add_argument(
        "--shadow-url",
        help="a running service that serves the challenger as its shadow: its /metrics evidence "
        "is judged by promotion.shadow too",
    )
    promote.add_argument(
        "--data",
        type=Path,
        help="the data file the challenger trained on, where it is not at the recorded path "
        "(one outside the project); its sha256 must match",
    )
    commands.add_parser("rollback", parents=[named], help="champion back to previous")
    commands.add_parser("models", parents=[named], help="the versions, newest first")
    commands.add_parser("history", parents=[named], help="every change of the aliases")
    alias = commands.add_parser("alias", help="point an alias of your own at a version")
    alias.add_argument("alias")
    alias.add_argument("--tag", required=True, help="NAME:VERSION (or another alias)")
    resolve = commands.add_parser("resolve", help="print the version a tag or alias names")
    resolve.add_argument("tag")
    data = commands.add_parser("data", help="bring back the DVC data version a version trained on")
    data.add_argument("tag")
    data.add_argument(
        "--output", type=Path, help="where (inside the repository; default data/restored/)"
    )
    args = parser.parse_args(argv)
    try:
        name = getattr(args, "name", None)
        if name is None and args.command not in ("alias", "resolve", "data"):
            from service.settings import default_model_name

            name = default_model_name()
        if args.command == "promote":
            tag = args.tag
            if tag and ":" not in tag:
                raise UserError(f"TAG={tag!r} must be NAME:VERSION (or NAME:ALIAS)")
            model = tag.partition(":")[0] if tag else name
            return promote_command(model, tag, args.force, args.data, args.shadow_url)
        if args.command == "rollback":
            return rollback_command(name)
        if args.command == "data":
            return data_command(args.tag, args.output)
        if args.command == "models":
            return models_command(name)
        if args.command == "history":
            return history_command(name)
        if args.command == "alias":
            return alias_command(args.alias, args.tag)
        return resolve_command(args.tag)
    except UserError as error:
        print(f"{args.command} failed: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
