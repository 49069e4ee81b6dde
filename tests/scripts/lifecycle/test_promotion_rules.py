"""The promotion gate's rules behave as MLflow's MetricThreshold: floor, absolute and relative change."""

import pytest

from scripts.lifecycle.promotion_rules import Rule, judge, parse_rule, promotion_settings
from service.errors import UserError


def failures(rule: Rule, challenger, champion):
    return rule.failures(challenger, champion)


def test_min_absolute_change_zero_means_no_worse():
    rule = Rule("accuracy", True, min_absolute_change=0.0)
    assert failures(rule, 0.9, 0.9) == []
    assert failures(rule, 0.91, 0.9) == []
    [reason] = failures(rule, 0.8667, 0.9)
    assert reason == (
        "accuracy: challenger 0.8667 is not at least champion 0.9000 + 0.0 (min_absolute_change=0.0)"
    )


def test_min_absolute_change_must_be_reached_and_rounding_does_not_fail_it():
    rule = Rule("accuracy", True, min_absolute_change=0.05)
    assert failures(rule, 0.95, 0.9) == []  # 0.9 + 0.05 is 0.9500000000000001 in floats
    assert failures(rule, 0.94, 0.9) != []


def test_lower_is_better_turns_every_check_around():
    rule = Rule("accuracy", False, threshold=0.5, min_absolute_change=0.1, min_relative_change=0.1)
    assert failures(rule, 0.3, 0.5) == []
    reasons = failures(rule, 0.46, 0.5)
    assert len(reasons) == 2
    assert "not at most champion 0.5000 - 0.1" in reasons[0]
    assert "is +8.00%, short of min_relative_change=0.1" in reasons[1]
    assert "not at most threshold=0.5" in failures(rule, 0.6, 0.9)[0]


def test_min_relative_change_is_a_fraction_of_the_champion():
    rule = Rule("f1_macro", True, min_relative_change=0.1)
    assert failures(rule, 0.88, 0.8) == []
    [reason] = failures(rule, 0.86, 0.8)
    assert "is +7.50%, short of min_relative_change=0.1" in reason


def test_relative_change_against_a_zero_champion_needs_any_improvement():
    rule = Rule("f1_macro", True, min_relative_change=0.5)
    assert failures(rule, 0.01, 0.0) == []
    assert "not better than 0" in failures(rule, 0.0, 0.0)[0]


def test_threshold_is_a_floor_for_the_challenger_alone():
    rule = Rule("roc_auc", True, threshold=0.9)
    assert failures(rule, 0.9, None) == []
    assert failures(rule, 0.89, 0.5) == ["roc_auc: challenger 0.8900 is not at least threshold=0.9"]


def test_a_missing_value_fails_the_rule_by_name():
    rule = Rule("roc_auc", True, min_absolute_change=0.0)
    assert failures(rule, None, 0.9) == ["roc_auc: no value for the challenger on these rows"]
    assert failures(rule, 0.9, None) == ["roc_auc: no value for the champion on these rows"]


def test_judge_gives_both_values_and_the_verdict_per_rule():
    rules = [Rule("accuracy", True, min_absolute_change=0.0), Rule("f1_macro", True, threshold=0.5)]
    verdicts = judge(rules, {"accuracy": 0.8, "f1_macro": 0.7}, {"accuracy": 0.9, "f1_macro": 0.9})
    assert [(v["metric"], v["challenger"], v["champion"], v["passed"]) for v in verdicts] == [
        ("accuracy", 0.8, 0.9, False),
        ("f1_macro", 0.7, 0.9, True),
    ]


def test_settings_read_from_params():
    settings = promotion_settings(
        {
            "promotion": {
                "auto_promote": True,
                "rules": {"accuracy": {"min_absolute_change": 0.0, "greater_is_better": True}},
            }
        }
    )
    assert settings.auto_promote is True
    assert settings.rules == [Rule("accuracy", True, min_absolute_change=0.0)]


@pytest.mark.parametrize(
    ("metric", "rule", "message"),
    [
        ("accuracy", {"min_absolute_change": 0.0}, "greater_is_better must be true or false"),
        ("speed", {"threshold": 1, "greater_is_better": True}, "unknown metric; choose one of"),
        ("accuracy", {"greater_is_better": True}, "sets no check"),
        ("accuracy", {"min_absolute_change": -0.1, "greater_is_better": True}, "0 or more"),
        ("accuracy", {"min_relative_change": 2, "greater_is_better": True}, "fraction from 0 to 1"),
        ("accuracy", {"threshold": "high", "greater_is_better": True}, "must be a number or null"),
        ("accuracy", {"floor": 0.9, "greater_is_better": True}, "unknown key.*floor"),
    ],
)
def test_a_bad_rule_is_refused_by_name(metric, rule, message):
    with pytest.raises(UserError, match=rf"promotion\.rules\.{metric}.*{message}"):
        parse_rule(metric, rule)


def test_settings_need_rules_and_a_boolean_auto_promote():
    with pytest.raises(UserError, match="needs a `promotion` mapping"):
        promotion_settings({})
    with pytest.raises(UserError, match="at least one metric"):
        promotion_settings({"promotion": {"auto_promote": False, "rules": {}}})
    with pytest.raises(UserError, match="auto_promote must be true or false"):
        promotion_settings({"promotion": {"auto_promote": "yes", "rules": {}}})


def test_the_shipped_params_yaml_has_valid_rules():
    from scripts.pipeline.params import load_params

    settings = promotion_settings(load_params())
    assert settings.auto_promote is False and {r.metric for r in settings.rules} >= {"accuracy"}
