"""Every `make pipeline ARGS="..."` line in README.md and docs/your-own-csv.md, run as written
through make."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
from support.pipeline_runs import printed_tag

from scripts.pipeline.params import PROJECT_ROOT, load_params, parse_override
from scripts.pipeline.training import ESTIMATORS

pytestmark = pytest.mark.integration

PREFIX = 'make pipeline ARGS="'
# The README shows the examples and the docs page explains them; both must show them all.
PAGES = (PROJECT_ROOT / "README.md", PROJECT_ROOT / "docs" / "your-own-csv.md")
# Enough trees to pass the quality gate on the shipped data, few enough to keep each run short.
FAST_FORESTS = "-p hyperparameters='{n_estimators: 10}'"


def readme_examples(readme: Path = PAGES[0]) -> list[str]:
    """Return the ARGS of every `make pipeline ARGS="..."` line, read the way a shell reads it."""
    examples = []
    for line in readme.read_text().splitlines():
        if line.strip().startswith(PREFIX):
            words = shlex.split(line, comments=True)
            examples.append(next(w for w in words if w.startswith("ARGS=")).removeprefix("ARGS="))
    return examples


def overrides(args: str) -> dict[str, object]:
    """Return the -p NAME=VALUE overrides in `args`, each value read as the runner reads it."""
    words = shlex.split(args)
    return dict(
        parse_override(value) for flag, value in zip(words, words[1:], strict=False) if flag == "-p"
    )


def faster(args: str) -> str:
    """Return `args` with fewer trees when the example trains a forest with its default size."""
    chosen = overrides(args)
    estimator = chosen.get("estimator", load_params()["estimator"])
    if "hyperparameters" in chosen or "n_estimators" not in ESTIMATORS[estimator].defaults:
        return args
    return f"{args} {FAST_FORESTS}"


# Each distinct line once, in the order the pages show them.
EXAMPLES = list(dict.fromkeys(args for page in PAGES for args in readme_examples(page)))


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_readme_shows_the_make_pipeline_examples(page):
    examples = readme_examples(page)
    assert len(examples) >= 3, f"expected 3 or more `{PREFIX}...` lines in {page.name}"
    chosen = [overrides(args) for args in examples]
    assert any(c.get("estimator") == "logistic_regression" for c in chosen)
    assert any(c.get("hyperparameters") == {"max_depth": 5} for c in chosen)


@pytest.mark.parametrize("args", EXAMPLES, ids=EXAMPLES)
def test_readme_example_runs_as_written(args, tmp_path):
    run_dir = tmp_path / "run"
    done = subprocess.run(
        ["make", "pipeline", f"ARGS={faster(args)} --run-dir {shlex.quote(str(run_dir))}"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ},  # BENTOML_HOME is the tests' own store (tests/conftest.py)
        cwd=PROJECT_ROOT,
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    chosen = overrides(args)
    name = chosen.get("model_name", load_params()["model_name"])
    assert re.fullmatch(rf"{re.escape(name)}:[a-z0-9]+", printed_tag(done)), done.stdout
    used = json.loads((run_dir / "params.json").read_text())
    if "data_path" in chosen:  # the runner stores it resolved against the project root
        assert Path(used.pop("data_path")) == (PROJECT_ROOT / chosen.pop("data_path")).resolve()
    assert {key: used[key] for key in chosen} == chosen
