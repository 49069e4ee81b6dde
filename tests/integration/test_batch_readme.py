"""Every `make batch ARGS="..."` line in README.md and docs/batch.md, run through make as
written (output to a temporary folder)."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from scripts.pipeline.params import PROJECT_ROOT

pytestmark = pytest.mark.integration

PREFIX = 'make batch ARGS="'
# The README shows the examples and the docs page explains them; both must show both engines.
PAGES = (PROJECT_ROOT / "README.md", PROJECT_ROOT / "docs" / "batch.md")


def readme_examples(page: Path = PAGES[0]) -> list[list[str]]:
    """Return the words of every `make batch ARGS="..."` line's ARGS, as a shell reads them."""
    examples = []
    for line in page.read_text().splitlines():
        if line.strip().startswith(PREFIX):
            words = shlex.split(line, comments=True)
            args = next(w for w in words if w.startswith("ARGS=")).removeprefix("ARGS=")
            examples.append(shlex.split(args))
    return examples


# Each distinct line once, in the order the pages show them.
EXAMPLES = [
    list(words)
    for words in dict.fromkeys(tuple(words) for page in PAGES for words in readme_examples(page))
]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_readme_shows_both_engines(page):
    engines = {
        words[words.index("--engine") + 1] if "--engine" in words else "local"
        for words in readme_examples(page)
    }
    assert engines == {"local", "spark"}


@pytest.mark.parametrize("words", EXAMPLES, ids=[" ".join(w) for w in EXAMPLES])
def test_a_readme_batch_example_runs_as_written(iris_run, tmp_path, words):
    position = words.index("--output") + 1
    output = tmp_path / (PROJECT_ROOT / words[position]).name
    args = shlex.join([*words[:position], str(output), *words[position + 1 :]])
    done = subprocess.run(
        ["make", "--no-print-directory", "batch", f"ARGS={args}"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert f"model     {iris_run.tag}" in done.stdout
    assert re.search(r"^read +150 rows$", done.stdout, re.M)
    parts = sorted(output.glob("part-*")) if output.is_dir() else [output]
    read = pd.read_parquet if output.suffix == ".parquet" else pd.read_csv
    scored = pd.concat([read(part) for part in parts], ignore_index=True)
    assert len(scored) == 150 and "prediction" in scored.columns
