"""The traffic policies: which version answers a request, and what follows a scored answer."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from scripts.pipeline.params import PROJECT_ROOT
from service.model.store import load_model_version
from service.observe.metrics import service_metrics
from service.scoring.core import Scored, Scorer
from service.traffic.candidate import Served
from service.traffic.policy import MainOnly, ShadowPolicy, SplitPolicy

CLIENTS = [f"client-{n}" for n in range(200)]


class _Log:
    """Records what a policy logs, in place of the prediction log's queue and writer."""

    def __init__(self) -> None:
        self.lines = []

    def scored(self, request_id, endpoint, columns, answer, candidate=None) -> None:
        self.lines.append((request_id, endpoint, answer, candidate))


@pytest.fixture(scope="module")
def versions(iris_run):
    main = load_model_version(iris_run.tag)
    return main, dataclasses.replace(main, tag="iris:candidate")


@pytest.fixture(scope="module")
def served(versions):
    main, candidate = versions
    return Served(main, Scorer(main), False), Served(candidate, Scorer(candidate), False)


@pytest.fixture(scope="module")
def rows(versions):
    return pd.read_csv(PROJECT_ROOT / "data" / "iris.csv")[versions[0].schema.names].head(5)


def _scored(served: Served, rows) -> Scored:
    scored = served.score(rows)
    assert isinstance(scored, Scored)
    return scored


def test_main_only_answers_every_request_with_main_and_logs_its_answer(served, rows):
    main, _ = served
    log = _Log()
    policy = MainOnly(main, log)
    assert {policy.route(c).tag for c in [*CLIENTS, None]} == {main.tag}
    assert policy.answering == (main,)
    assert policy.candidate is None and policy.candidate_metadata() is None
    scored = _scored(main, rows)
    policy.after_scored("req-1", "/predict", rows, main, scored)
    [(request_id, endpoint, answer, beside)] = log.lines
    assert (request_id, endpoint, answer.model, beside) == ("req-1", "/predict", main.tag, None)
    assert answer.labels is scored.labels and answer.classes == main.scorer.classes
    MainOnly(main, None).after_scored("req-2", "/predict", rows, main, scored)  # log off: no-op


def test_a_split_sends_its_share_to_the_candidate_which_answers_and_is_logged(served, rows):
    main, candidate = served
    everyone = SplitPolicy(main, candidate, 1.0, None)
    assert {everyone.route(c).tag for c in [*CLIENTS, None]} == {candidate.tag}
    few = SplitPolicy(main, candidate, 0.2, None)
    chosen = [few.route(c).tag for c in CLIENTS]
    assert chosen == [few.route(c).tag for c in CLIENTS]  # a client keeps its side
    assert 0.1 < chosen.count(candidate.tag) / len(CLIENTS) < 0.3
    # Only a version that answers starts the series of a served version.
    assert few.answering == (main, candidate)
    log = _Log()
    policy = SplitPolicy(main, candidate, 1.0, log)
    policy.after_scored("req-1", "/predict_csv", rows, candidate, _scored(candidate, rows))
    assert [(line[2].model, line[3]) for line in log.lines] == [(candidate.tag, None)]
    assert policy.candidate_metadata() == {
        "model": candidate.tag,
        "mode": "split",
        "share": 1.0,
        "metrics": candidate.version.metrics,
    }


def _count(name: str, **labels) -> float:
    return getattr(service_metrics(), name).labels(**labels)._value.get()


def test_a_shadow_never_answers_and_logs_the_main_answer_with_the_candidates_beside(
    served, versions, rows
):
    main, candidate = served
    log = _Log()
    policy = ShadowPolicy(main, versions[1], candidate.scorer, 1_000, log)
    assert {policy.route(c).tag for c in [*CLIENTS, None]} == {main.tag}
    # A shadow has the shadow_* series alone: it gets none of a served version's.
    assert policy.answering == (main,)
    assert policy.candidate_metadata() == {
        "model": candidate.tag,
        "mode": "shadow",
        "share": None,
        "metrics": versions[1].metrics,
    }
    scored = _scored(main, rows)
    policy.start()
    policy.after_scored("req-1", "/predict", rows, main, scored)
    policy.close()
    [(request_id, _, answer, beside)] = log.lines
    assert request_id == "req-1" and answer.model == main.tag and beside.model == candidate.tag
    assert beside.labels.tolist() == scored.labels.tolist()


def test_a_shadow_scores_with_the_log_off_so_agreement_still_reaches_the_metrics(
    served, versions, rows
):
    main, candidate = served
    policy = ShadowPolicy(main, versions[1], candidate.scorer, 1_000, None)
    before = _count("shadow_requests", candidate=candidate.tag, result="scored")
    policy.start()
    policy.after_scored("req-1", "/predict", rows, main, _scored(main, rows))
    policy.close()
    assert _count("shadow_requests", candidate=candidate.tag, result="scored") - before == 1
