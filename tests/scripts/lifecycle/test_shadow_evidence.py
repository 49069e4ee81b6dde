import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest

from scripts.lifecycle.shadow_evidence import ShadowRules, judge_shadow, shadow_evidence
from service.errors import UserError


def _scrape(agree: int, disagree: int, failed: int = 0, candidate: str = "m:2") -> str:
    """Return /metrics text as prometheus_client writes it, with another candidate's rows too."""
    registry = CollectorRegistry()
    agreement = Counter(
        "model_service_shadow_agreement", "rows", ["candidate", "agree"], registry=registry
    )
    requests = Counter(
        "model_service_shadow_requests", "requests", ["candidate", "result"], registry=registry
    )
    agreement.labels(candidate, "true").inc(agree)
    agreement.labels(candidate, "false").inc(disagree)
    agreement.labels("m:other", "true").inc(1000)
    requests.labels(candidate, "scored").inc(7)
    requests.labels(candidate, "failed").inc(failed)
    return generate_latest(registry).decode()


def test_the_candidate_s_rows_and_requests_are_read_and_no_other_s():
    found = shadow_evidence(_scrape(agree=90, disagree=30), "m:2")
    assert found["rows"] == 120 and found["agreeing_rows"] == 90
    assert found["agreement"] == pytest.approx(0.75)
    assert found["requests"] == {"failed": 0, "scored": 7}


def test_a_shadow_that_saw_nothing_has_no_agreement_and_fails_min_rows():
    judged = judge_shadow(shadow_evidence(_scrape(0, 0), "m:9"), ShadowRules())
    assert judged["rows"] == 0 and judged["agreement"] is None and not judged["passed"]
    assert "fewer than min_rows=100" in judged["reasons"][0]


def test_each_rule_names_itself_when_it_fails():
    evidence = shadow_evidence(_scrape(agree=60, disagree=60, failed=2), "m:2")
    judged = judge_shadow(evidence, ShadowRules(min_rows=100, min_agreement=0.8))
    assert judged["passed"] is False and len(judged["reasons"]) == 2
    assert "min_agreement=0.8" in judged["reasons"][0]
    assert "2 request(s) failed" in judged["reasons"][1]
    assert judge_shadow(evidence, ShadowRules(max_failed_requests=5))["passed"]


def test_unknown_shadow_settings_are_named():
    assert ShadowRules.from_params({}) == ShadowRules()
    with pytest.raises(UserError, match=r"unknown promotion.shadow setting\(s\) min_row"):
        ShadowRules.from_params({"shadow": {"min_row": 5}})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"min_rows": "many"}, r"promotion.shadow.min_rows must be an integer"),
        ({"min_agreement": 1.5}, r"min_agreement must be a share from 0 to 1, or null"),
        ({"max_failed_requests": -1}, r"must be >= 0"),
        ([5], r"promotion.shadow must be a mapping"),
    ],
)
def test_bad_shadow_settings_name_the_key_and_what_it_takes(raw, message):
    with pytest.raises(UserError, match=message):
        ShadowRules.from_params({"shadow": raw})
    assert ShadowRules.from_params({"shadow": {"min_agreement": 0.9}}).min_agreement == 0.9
