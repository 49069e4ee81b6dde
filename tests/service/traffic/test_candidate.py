"""The candidate beside the main model: schema checks, sticky split, and the shadow's counts."""

from __future__ import annotations

import dataclasses
import threading
import time

import pandas as pd
import pytest

from scripts.pipeline.params import PROJECT_ROOT
from service.model.schema import Feature
from service.model.store import load_model_version
from service.observe.metrics import service_metrics
from service.scoring.core import Scored, Scorer
from service.traffic.candidate import Shadow, ShadowWork, TrafficSplit
from service.traffic.compatibility import CandidateError, check_compatible, schema_differences


def _with_features(version, features, classes=None):
    schema = dataclasses.replace(
        version.schema, features=features, classes=classes or version.schema.classes
    )
    return dataclasses.replace(version, schema=schema, tag="iris:other")


def test_a_candidate_with_other_inputs_or_classes_is_refused_saying_what_differs(iris_run):
    main = load_model_version(iris_run.tag)
    first, *rest = main.schema.features
    changed = [Feature(first.name, "categorical", "str", first.nullable), *rest[1:]]
    extra = Feature("colour", "categorical", "str", True)
    candidate = _with_features(main, [*changed, extra], classes=["a", "b"])
    differences = schema_differences(main, candidate)
    assert f"the candidate lacks {rest[0].name}" in differences
    assert "the candidate also needs colour" in differences
    assert f"{first.name} is numeric for the main model, categorical" in differences
    assert any(d.startswith("classes differ") for d in differences)
    with pytest.raises(CandidateError, match="cannot run beside"):
        check_compatible(main, candidate)
    assert schema_differences(main, main) == []


def test_a_client_always_goes_the_same_way_and_clients_split_near_the_share():
    split = TrafficSplit(0.3)
    clients = [f"client-{n}" for n in range(2_000)]
    first = [split.to_candidate(c) for c in clients]
    assert first == [split.to_candidate(c) for c in clients]
    assert 0.27 < sum(first) / len(first) < 0.33
    anonymous = [split.to_candidate(None) for _ in range(4_000)]
    assert 0.27 < sum(anonymous) / len(anonymous) < 0.33
    assert not any(TrafficSplit(0.0001).to_candidate(c) for c in clients[:100])


def _count(name: str, **labels) -> float:
    return getattr(service_metrics(), name).labels(**labels)._value.get()


def _work(scorer: Scorer, frame: pd.DataFrame) -> ShadowWork:
    scored = scorer.score(frame)
    assert isinstance(scored, Scored)
    return ShadowWork("req", "/predict", frame, scored)


def test_the_shadow_scores_off_the_request_path_and_counts_agreement(iris_run):
    version = load_model_version(iris_run.tag)
    scorer = Scorer(version)
    frame = pd.read_csv(PROJECT_ROOT / "data" / "iris.csv")[version.schema.names]
    logged = []
    shadow = Shadow(scorer, "iris:cand", 10_000, lambda work, answer: logged.append(answer))
    shadow.start()
    before = _count("shadow_agreement", candidate="iris:cand", agree="true")
    for start in range(0, 150, 10):
        shadow.submit(_work(scorer, frame.iloc[start : start + 10].reset_index(drop=True)))
    shadow.close()
    assert _count("shadow_agreement", candidate="iris:cand", agree="true") - before == 150
    assert len(logged) == 15 and all(isinstance(a, Scored) for a in logged)


class _Broken:
    """A candidate that raises, once released: until then the shadow's thread is busy."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def score(self, columns):
        self.release.wait(10)
        raise RuntimeError("the candidate's graph is broken")


def test_a_full_queue_drops_and_a_failing_candidate_is_counted(iris_run):
    version = load_model_version(iris_run.tag)
    scorer = Scorer(version)
    frame = pd.read_csv(PROJECT_ROOT / "data" / "iris.csv")[version.schema.names].head(4)
    logged = []
    broken = _Broken()
    shadow = Shadow(broken, "iris:broken", 6, lambda work, answer: logged.append(answer))
    dropped = _count("shadow_requests", candidate="iris:broken", result="dropped")
    failed = _count("shadow_requests", candidate="iris:broken", result="failed")
    shadow.start()
    shadow.submit(_work(scorer, frame))  # 4 of 6 rows: more than half, drained at once
    time.sleep(0.5)  # the thread holds it, stuck in the candidate, rows still counted
    shadow.submit(_work(scorer, frame))  # 8 > 6: dropped at once, logged without the candidate
    broken.release.set()
    shadow.close()
    assert _count("shadow_requests", candidate="iris:broken", result="dropped") - dropped == 1
    assert _count("shadow_requests", candidate="iris:broken", result="failed") - failed == 1
    assert logged == [None, None]
