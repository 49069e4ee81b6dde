"""The lifecycle end to end: a champion, a worse challenger refused, a better one promoted,
`make models`, and `make rollback`, all on the real BentoML store through make."""

import json
from pathlib import Path

import pandas as pd
import pytest
import requests
from support.lifecycle import LifecycleVersions, make, train_versions

from scripts.batch.cli import score_file
from scripts.pipeline.params import PROJECT_ROOT
from scripts.tools.harness.bento_process import BentoServer
from service.model.aliases import CHAMPION, PREVIOUS
from service.model.store import alias_file, find_model

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def lifecycle_versions(tmp_path_factory) -> LifecycleVersions:
    """Three versions of one model, trained in order: first (champion), worse, better."""
    return train_versions(tmp_path_factory.mktemp("lifecycle"))


def champion_of(versions: LifecycleVersions) -> str:
    return f"{versions.name}:{alias_file(versions.name).read().get(CHAMPION)}"


def served_version(tag: str, log: Path) -> str:
    """Serve `tag` and return the version /metadata and X-Model-Version name (they must agree)."""
    with BentoServer({"MODEL_TAG": tag}, log) as server:
        metadata = requests.post(server.url + "/metadata", timeout=30).json()
        record = pd.read_csv(PROJECT_ROOT / "data" / "iris.csv").iloc[0].drop("species")
        answer = requests.post(
            server.url + "/predict", json={"records": [record.to_dict()]}, timeout=30
        )
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Model-Version"] == metadata["model"] == answer.json()["model"]
    return metadata["model"]


def test_champion_challenger_promotion_and_rollback(lifecycle_versions, tmp_path):
    versions = lifecycle_versions
    name = versions.name

    # The first version became champion when it was exported, and said so in its run.
    first_gate = json.loads((versions.run_dirs["first"] / "comparison.json").read_text())
    assert first_gate["outcome"] == "first version"
    assert "became the champion" in (versions.run_dirs["first"] / "index.html").read_text()
    history = alias_file(name).read().history
    assert [(c["alias"], c["new"], c["reason"]) for c in history] == [
        (CHAMPION, versions.first.split(":")[1], "first version")
    ]

    # The worse one was compared in its run: it failed on accuracy, and stays a challenger.
    worse_gate = json.loads((versions.run_dirs["worse"] / "comparison.json").read_text())
    assert worse_gate["champion"] == versions.first and worse_gate["passed"] is False
    assert (
        worse_gate["metrics"]["challenger"]["accuracy"]
        < worse_gate["metrics"]["champion"]["accuracy"]
    )
    assert "Promotion gate" in (versions.run_dirs["worse"] / "index.html").read_text()
    assert champion_of(versions) == versions.first

    # make promote TAG=worse refuses, naming the metric, both values and the rule.
    refused = make("promote", TAG=versions.worse)
    assert refused.returncode != 0, refused.stdout
    assert "promotion refused" in refused.stderr
    assert "accuracy: challenger 0.6667 is not at least champion 0.9000 + 0.0" in refused.stderr
    assert "min_absolute_change=0.0" in refused.stderr
    assert champion_of(versions) == versions.first

    # make promote (the newest challenger: better) passes the gate on recreated held-out rows.
    promoted = make("promote")
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert f"{versions.better} is the champion now; previous: {versions.first}" in promoted.stdout
    assert "recreated from data/iris.csv" in promoted.stdout
    assert champion_of(versions) == versions.better
    # ...and `name:champion` resolves wherever a tag does: the store, batch scoring.
    assert str(find_model(f"{name}:champion").tag) == versions.better
    holdout = versions.run_dirs["better"] / "holdout.csv"
    served_tag, tally, _ = score_file(holdout, tmp_path / "scores.csv", model=f"{name}:champion")
    assert served_tag == versions.better and tally.rows_scored == tally.rows_read > 0

    # The service started with `name:champion` serves the promoted version.
    assert served_version(f"{name}:champion", tmp_path / "promoted.log") == versions.better

    # make models lists every version, newest first, with its aliases and metrics.
    listed = make("models")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    order = [
        tag
        for line in lines[1:]
        for tag in (versions.better, versions.worse, versions.first)
        if tag in line
    ]
    assert order == [versions.better, versions.worse, versions.first], listed.stdout
    assert "champion" in lines[1] and "logistic_regression" in lines[1]
    assert "previous" in lines[3] and "0.9000" in lines[3]

    # make rollback points champion back at the first one; previous at the one it replaced.
    rolled = make("rollback")
    assert rolled.returncode == 0, rolled.stderr
    assert f"{versions.first} serves as champion now; previous: {versions.better}" in rolled.stdout
    state = alias_file(name).read()
    assert (state.get(CHAMPION), state.get(PREVIOUS)) == (
        versions.first.split(":")[1],
        versions.better.split(":")[1],
    )
    assert [c["reason"] for c in state.history][-2:] == ["rollback", "rollback"]
    assert served_version(f"{name}:champion", tmp_path / "rolled.log") == versions.first


def test_force_promotes_past_a_failed_gate_and_says_so(lifecycle_versions):
    versions = lifecycle_versions
    before = alias_file(versions.name).read().get(CHAMPION)
    forced = make("promote", TAG=versions.worse, FORCE="1")
    assert forced.returncode == 0, forced.stderr
    assert "by force, past a failed gate" in forced.stdout
    history = alias_file(versions.name).read().history
    assert history[-1]["reason"] == "promoted (forced)" and history[-1]["old"] == before
    # Undo, so the store is as the first test left it.
    assert make("rollback").returncode == 0


def test_held_out_rows_are_recreated_exactly_and_a_changed_data_file_is_refused(
    lifecycle_versions, tmp_path
):
    from scripts.lifecycle.promotion import recreated_holdout
    from scripts.pipeline.params import PROJECT_ROOT
    from scripts.pipeline.training import read_features
    from service.errors import UserError
    from service.model.store import load_model_version

    version = load_model_version(lifecycle_versions.worse)
    rows, source = recreated_holdout(version, PROJECT_ROOT)
    stored = read_features(lifecycle_versions.run_dirs["worse"] / "holdout.csv", version.schema)
    assert rows.equals(stored) and source.startswith("recreated from data/iris.csv")

    (tmp_path / "data").mkdir()
    changed = (PROJECT_ROOT / "data" / "iris.csv").read_text() + "5.0,3.0,1.5,0.2,setosa\n"
    (tmp_path / "data" / "iris.csv").write_text(changed)
    with pytest.raises(UserError, match=r"data/iris\.csv changed since .*FORCE=1"):
        recreated_holdout(version, tmp_path)

    # A copy elsewhere, named with DATA=PATH, gives the same rows; a changed one is refused too.
    (tmp_path / "copy.csv").write_bytes((PROJECT_ROOT / "data" / "iris.csv").read_bytes())
    rows, source = recreated_holdout(version, tmp_path / "nowhere", tmp_path / "copy.csv")
    assert rows.equals(stored) and source.startswith(f"recreated from {tmp_path / 'copy.csv'}")
    with pytest.raises(UserError, match=r"changed since"):
        recreated_holdout(version, PROJECT_ROOT, tmp_path / "data" / "iris.csv")
    with pytest.raises(UserError, match=r"not at .*missing\.csv.*DATA=PATH"):
        recreated_holdout(version, PROJECT_ROOT, tmp_path / "missing.csv")


def test_rows_a_suite_rejects_are_counted_by_rule_not_fatal(lifecycle_versions):
    from scripts.lifecycle.promotion import compare
    from scripts.lifecycle.promotion_rules import Rule
    from service.model.store import load_model_version

    challenger = load_model_version(lifecycle_versions.worse)
    champion = load_model_version(lifecycle_versions.first)
    rows = pd.read_csv(lifecycle_versions.run_dirs["worse"] / "holdout.csv")
    rows.loc[0, "sepal_length_cm"] = 100.0  # far outside both suites' range
    result = compare(challenger, champion, rows, [Rule("accuracy", True, 0.0)], "test rows")
    assert result["rows"]["total"] == 30 and result["rows"]["compared"] == 29
    rejected = result["rows"]["rejected"]["champion"]
    assert rejected["rows"] == 1
    assert rejected["by_rule"] == [
        {
            "expectation": "expect_column_values_to_be_between",
            "column": "sepal_length_cm",
            "rows": 1,
        }
    ]


def test_a_bento_built_for_the_champion_carries_the_version_it_resolves_to(lifecycle_versions):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from support.bentos import build_bento

    champion = champion_of(lifecycle_versions)
    bento = build_bento(f"{lifecycle_versions.name}:champion")
    shown = subprocess.run(
        [Path(sys.executable).parent / "bentoml", "get", bento, "-o", "json"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ},
    )
    info = json.loads(shown.stdout)
    assert [m["tag"] for s in info["services"] for m in s["models"]] == [champion]
