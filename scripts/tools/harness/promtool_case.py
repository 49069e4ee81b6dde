"""A promtool unit test written and run: the rules' recorded series checked against values."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from scripts.tools.harness import prometheus_bin


def promtool_agrees(
    rules: Path,
    folder: Path,
    series: list[dict],
    expected: dict[str, float],
    labels: str,
    *,
    at: str = "20m",
) -> subprocess.CompletedProcess:
    """Return promtool's run of a unit test in `folder` checking that each series of `expected`
    (a PromQL expression to its value) holds that value, to 1e-9 (sums in another order differ
    by ulps), `at` into `series` (promtool's input series, evaluated every minute).

    `labels` is the label set every expression's one sample carries, as `{job="j", ...}`.
    """
    shutil.copy(rules, folder / "rules.yml")
    case = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "promql_expr_test": [
                    {
                        "expr": f"abs({expr} - {value!r}) < bool 1e-9",
                        "eval_time": at,
                        "exp_samples": [{"labels": labels, "value": 1}],
                    }
                    for expr, value in expected.items()
                ],
            }
        ],
    }
    (folder / "agree_test.yml").write_text(yaml.safe_dump(case))
    return subprocess.run(
        [str(prometheus_bin.find("promtool")), "test", "rules", "agree_test.yml"],
        capture_output=True,
        text=True,
        cwd=folder,
        check=False,
        timeout=120,
    )
