"""What a shadow candidate did in a running service, read from its /metrics, and the gate's
`promotion.shadow` rules judged on it."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from scripts.monitor.metrics_text import totals
from scripts.pipeline.params import settings_mapping
from service.errors import UserError

AGREEMENT = "model_service_shadow_agreement"
REQUESTS = "model_service_shadow_requests"


@dataclass(frozen=True)
class ShadowRules:
    """params.yaml's `promotion.shadow`: what the shadow must have shown before a promotion."""

    # Rows the shadow scored beside the main model: too few say nothing.
    min_rows: int = 100
    # The share of rows whose label agrees with the main model's; null leaves it out (a
    # challenger retrained after the relation changed is meant to disagree where it changed).
    min_agreement: float | None = None
    # Requests the shadow failed on (it raised): any means it is not ready.
    max_failed_requests: int = 0

    @classmethod
    def from_params(cls, promotion: dict) -> ShadowRules:
        """Return the checked rules; raise naming the key, the value and what it takes."""
        rules = settings_mapping(cls, promotion.get("shadow"), "promotion.shadow")
        agreement = rules.min_agreement
        if agreement is not None and not (
            isinstance(agreement, (int, float)) and not isinstance(agreement, bool)
            and 0 <= agreement <= 1
        ):  # fmt: skip
            raise UserError(
                f"promotion.shadow.min_agreement must be a share from 0 to 1, or null; "
                f"not {agreement!r}"
            )
        if rules.min_rows < 0 or rules.max_failed_requests < 0:
            raise UserError("promotion.shadow.min_rows and max_failed_requests must be >= 0")
        return rules


def shadow_evidence(metrics: str, candidate: str) -> dict:
    """Return what `candidate` did as a shadow: rows scored and agreeing, requests by result."""
    rows = totals(metrics, f"{AGREEMENT}_total", "agree", candidate=candidate)
    requests = totals(metrics, f"{REQUESTS}_total", "result", candidate=candidate)
    agreeing = rows.get("true", 0.0)
    scored = int(agreeing + rows.get("false", 0.0))
    return {
        "candidate": candidate,
        "rows": scored,
        "agreeing_rows": int(agreeing),
        "agreement": agreeing / scored if scored else None,
        "requests": {result: int(count) for result, count in sorted(requests.items())},
    }


def judge_shadow(evidence: dict, rules: ShadowRules) -> dict:
    """Return `evidence` with the rules, the reasons it fails them, and whether it passes."""
    reasons = []
    if evidence["rows"] < rules.min_rows:
        reasons.append(
            f"shadow: {evidence['candidate']} scored {evidence['rows']} rows beside the main "
            f"model, fewer than min_rows={rules.min_rows}; let it see more traffic"
        )
    agreement = evidence["agreement"]
    if rules.min_agreement is not None and (agreement or 0.0) < rules.min_agreement:
        reasons.append(
            f"shadow: agreement {agreement} is under min_agreement={rules.min_agreement}"
        )
    failed = evidence["requests"].get("failed", 0)
    if failed > rules.max_failed_requests:
        reasons.append(
            f"shadow: {failed} request(s) failed in the candidate, more than "
            f"max_failed_requests={rules.max_failed_requests}; see the service's log"
        )
    return {**evidence, "rules": asdict(rules), "passed": not reasons, "reasons": reasons}
