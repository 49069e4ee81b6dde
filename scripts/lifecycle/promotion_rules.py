"""The promotion gate's rules: params.yaml's `promotion`, in MLflow MetricThreshold's terms.

Per metric, as `mlflow.models.MetricThreshold` has them (the semantics of
`mlflow.validate_evaluation_results`, without MLflow):

- `threshold`: a floor (a ceiling when lower is better) for the challenger alone;
- `min_absolute_change`: the challenger must reach champion + change (champion - change when
  lower is better). MLflow insists on a positive number; 0 is allowed here and means "no worse";
- `min_relative_change`: (challenger - champion) / champion, sign flipped when lower is better,
  must reach it (a fraction, 0 to 1); a champion at 0 needs the challenger better by 1e-10;
- `greater_is_better`: which direction is better; required.

Float rounding of champion + change (1e-12) does not fail a check; in MLflow it does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from service.errors import UserError
from service.model.version import held_out_metrics

# What scripts/pipeline/evaluation.py computes that a rule can name.
RULE_KEYS = ("threshold", "min_absolute_change", "min_relative_change", "greater_is_better")
# MLflow's fallback when the champion's value is 0 and a relative change cannot be formed.
ZERO_BASELINE_MARGIN = 1e-10
ROUNDING = 1e-12


@dataclass(frozen=True)
class Rule:
    metric: str
    greater_is_better: bool
    threshold: float | None = None
    min_absolute_change: float | None = None
    min_relative_change: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def failures(self, challenger: float | None, champion: float | None) -> list[str]:
        """Return one sentence per check the challenger fails; empty when it passes."""
        name = self.metric
        if challenger is None:
            return [f"{name}: no value for the challenger on these rows"]
        better = "at least" if self.greater_is_better else "at most"
        sign = 1 if self.greater_is_better else -1
        found = []
        if self.threshold is not None and not _reaches(challenger, self.threshold, sign):
            found.append(
                f"{name}: challenger {challenger:.4f} is not {better} threshold={self.threshold}"
            )
        compares = self.min_absolute_change is not None or self.min_relative_change is not None
        if not compares or champion is None:
            if compares:
                found.append(f"{name}: no value for the champion on these rows")
            return found
        if self.min_absolute_change is not None:
            needed = champion + sign * self.min_absolute_change
            if not _reaches(challenger, needed, sign):
                found.append(
                    f"{name}: challenger {challenger:.4f} is not {better} champion "
                    f"{champion:.4f} {'+' if sign > 0 else '-'} {self.min_absolute_change} "
                    f"(min_absolute_change={self.min_absolute_change})"
                )
        if self.min_relative_change is not None:
            if champion == 0:
                passed = _reaches(challenger, sign * ZERO_BASELINE_MARGIN, sign)
                change = "better than 0" if passed else "not better than 0"
            else:
                relative = sign * (challenger - champion) / champion
                passed = _reaches(relative, self.min_relative_change, 1)
                change = f"{relative:+.2%}"
            if not passed:
                found.append(
                    f"{name}: challenger {challenger:.4f} against champion {champion:.4f} is "
                    f"{change}, short of min_relative_change={self.min_relative_change}"
                )
        return found


def _reaches(value: float, bound: float, sign: int) -> bool:
    # MLflow compares the float sums as they come, so 0.95 fails "0.90 + 0.05"
    # (0.9500000000000001); a rounding error of the sum is no reason to refuse.
    return value >= bound - ROUNDING if sign > 0 else value <= bound + ROUNDING


@dataclass(frozen=True)
class PromotionSettings:
    auto_promote: bool
    rules: list[Rule]  # a classifier's
    regression_rules: list[Rule]

    def rules_for(self, task: str) -> list[Rule]:
        return self.regression_rules if task == "regression" else self.rules


DEFAULT_REGRESSION_RULES = {
    "rmse": {"min_absolute_change": 0.0, "greater_is_better": False},
    "mae": {"min_absolute_change": 0.0, "greater_is_better": False},
}
# Which `promotion` key holds the rules of each task, and the example its error shows.
RULE_SETS = {
    "rules": ("classification", "accuracy: {min_absolute_change: 0.0, greater_is_better: true}"),
    "regression_rules": (
        "regression",
        "rmse: {min_absolute_change: 0.0, greater_is_better: false}",
    ),
}


def promotion_settings(params: dict) -> PromotionSettings:
    """Return params.yaml's `promotion` mapping, checked; raise naming the key and the fix."""
    raw = params.get("promotion")
    if not isinstance(raw, dict):
        raise UserError(
            "params.yaml needs a `promotion` mapping with `auto_promote` and `rules` "
            "(see the one shipped with the template)"
        )
    # `shadow` holds the rules for a shadow candidate's evidence (lifecycle/shadow_evidence.py).
    unknown = sorted(set(raw) - {"auto_promote", "shadow", *RULE_SETS})
    if unknown:
        raise UserError(
            f"unknown promotion setting(s) {', '.join(unknown)}; known: auto_promote, shadow, "
            + ", ".join(RULE_SETS)
        )
    auto = raw.get("auto_promote", False)
    if not isinstance(auto, bool):
        raise UserError(f"promotion.auto_promote must be true or false, not {auto!r}")
    parsed = {}
    for key, (task, example) in RULE_SETS.items():
        # A params.yaml from before regression has no regression_rules: its errors must not grow.
        rules = raw.get(key, DEFAULT_REGRESSION_RULES if key == "regression_rules" else None)
        if not isinstance(rules, dict) or not rules:
            raise UserError(
                f"promotion.{key} must map at least one metric to its rule ({task}), e.g. {example}"
            )
        parsed[key] = [parse_rule(metric, rule, key) for metric, rule in rules.items()]
    return PromotionSettings(auto, parsed["rules"], parsed["regression_rules"])


def parse_rule(metric: str, rule: object, rule_set: str = "rules") -> Rule:
    """Return the rule for `metric` in `promotion.<rule_set>`, or raise naming what is wrong."""
    where = f"promotion.{rule_set}.{metric}"
    known = held_out_metrics(RULE_SETS[rule_set][0])
    if metric not in known:
        raise UserError(f"{where}: unknown metric; choose one of {', '.join(known)}")
    if not isinstance(rule, dict):
        raise UserError(f"{where} must be a mapping of {', '.join(RULE_KEYS)}")
    unknown = sorted(set(rule) - set(RULE_KEYS))
    if unknown:
        raise UserError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {RULE_KEYS}")
    greater = rule.get("greater_is_better")
    if not isinstance(greater, bool):
        raise UserError(f"{where}.greater_is_better must be true or false")
    values = {key: rule.get(key) for key in RULE_KEYS[:3]}
    for key, value in values.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise UserError(f"{where}.{key} must be a number or null, not {value!r}")
    if all(value is None for value in values.values()):
        raise UserError(
            f"{where} sets no check: give threshold, min_absolute_change or min_relative_change"
        )
    if values["min_absolute_change"] is not None and values["min_absolute_change"] < 0:
        raise UserError(f"{where}.min_absolute_change must be 0 or more")
    relative = values["min_relative_change"]
    if relative is not None and not 0 <= relative <= 1:
        raise UserError(f"{where}.min_relative_change must be a fraction from 0 to 1")
    return Rule(metric, greater, **values)


def judge(rules: list[Rule], challenger: dict, champion: dict | None) -> list[dict]:
    """Return each rule with both values, whether it passed and why not."""
    verdicts = []
    for rule in rules:
        ours = challenger.get(rule.metric)
        theirs = champion.get(rule.metric) if champion is not None else None
        failures = rule.failures(ours, theirs)
        verdicts.append(
            {
                **rule.to_dict(),
                "challenger": ours,
                "champion": theirs,
                "passed": not failures,
                "failures": failures,
            }
        )
    return verdicts
