"""What BentoML's own process imports: the declaration alone, never the runtime's libraries."""

import json
import os
import subprocess
import sys

from scripts.pipeline.params import PROJECT_ROOT

HEAVY = ("pandas", "pyarrow", "onnxruntime", "sklearn", "great_expectations", "service.runtime")

# BentoML's own process imports the service as this does (it sets no worker index), reads the
# class, and answers nothing.
READ_THE_CLASS = f"""
import json, sys
import service.service as module
assert module.ModelService.name == "model_service"
print(json.dumps(sorted(name for name in {HEAVY!r} if name in sys.modules)))
"""


def imported_by_reading_the_class(tag: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", READ_THE_CLASS],
        env={**os.environ, "MODEL_TAG": tag},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_reading_the_service_imports_no_pandas_onnx_runtime_or_scorer(iris_run):
    assert imported_by_reading_the_class(iris_run.tag) == []


def test_the_check_sees_a_heavy_import(iris_run, tmp_path, monkeypatch):
    # The same probe, with pandas imported on the way in, must name it: the test can fail.
    (tmp_path / "sitecustomize.py").write_text("import pandas\n")
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    assert "pandas" in imported_by_reading_the_class(iris_run.tag)
