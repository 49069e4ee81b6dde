"""`bentoml build` packs the service code, the model version and only the serving dependencies."""

import json
import os
import subprocess
import sys
from pathlib import Path

import bentoml
import pytest
from support.bentos import build_bento

from scripts.pipeline.params import PROJECT_ROOT

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent
SERVICE = PROJECT_ROOT / "service"
SERVING_ONLY_ABSENT = ("jupyterlab", "papermill", "pytest", "nbmake", "skl2onnx", "hypothesis")


def test_bento_carries_the_model_version_and_service_code_only(iris_run, tmp_path):
    tag = build_bento(iris_run.tag)
    pinned = Path("build/requirements.txt").read_text()
    for name in SERVING_ONLY_ABSENT:
        assert f"\n{name}==" not in pinned, name
    assert "\nbentoml==" in pinned and "\nonnxruntime==" in pinned
    # The iris suite is fully compiled and the version serves ONNX: no GX, no scikit-learn.
    for name in ("great-expectations", "altair", "scikit-learn", "scipy", "skops"):
        assert f"\n{name}==" not in pinned, name

    env_args = {"capture_output": True, "text": True, "check": True}
    env = {**os.environ, "MODEL_TAG": iris_run.tag}
    info = json.loads(
        subprocess.run([BIN / "bentoml", "get", tag, "-o", "json"], env=env, **env_args).stdout
    )
    models = [m["tag"] for service in info["services"] for m in service["models"]]
    assert models == [iris_run.tag]

    bento_path = bentoml.get(tag).path  # the tests' own BENTOML_HOME, as the CLI's
    source = sorted(
        p.relative_to(Path(bento_path) / "src").parts[0]
        for p in (Path(bento_path) / "src").iterdir()
    )
    assert source == ["bentofile.yaml", "params.yaml", "service"]
    # Exactly the service package, validation/ included; nothing only the pipeline needs.
    shipped = {
        p.relative_to(Path(bento_path) / "src").as_posix()
        for p in (Path(bento_path) / "src" / "service").rglob("*.py")
    }
    assert shipped == {p.relative_to(PROJECT_ROOT).as_posix() for p in SERVICE.rglob("*.py")}
    assert "service/validation/compiled.py" in shipped
    for path in shipped:
        text = (Path(bento_path) / "src" / path).read_text()
        for training_only in ("scripts", "skl2onnx", "papermill", "sklearn.model_selection"):
            assert f"import {training_only}" not in text and f"from {training_only}" not in text, (
                path,
                training_only,
            )


def test_serving_requirements_follow_the_version_and_the_engines(iris_run, tmp_path):
    def pins(**env: str) -> tuple[str, str]:
        output = tmp_path / "requirements.txt"
        done = subprocess.run(
            [BIN / "python", "-m", "scripts.tools.release.requirements", "--output", str(output)],
            env={**os.environ, "MODEL_TAG": iris_run.tag, **env},
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout, output.read_text()

    said, pinned = pins()
    assert "Great Expectations left out [gx]" in said and "expectations are compiled" in said
    assert "scikit-learn, scipy and skops left out [sklearn]" in said
    said, pinned = pins(PREDICTION_ENGINE="sklearn", VALIDATION_ENGINE="gx")
    assert "scikit-learn, scipy and skops included [sklearn]" in said
    assert "PREDICTION_ENGINE=sklearn" in said and "VALIDATION_ENGINE=gx" in said
    for name in ("great-expectations", "altair", "scikit-learn", "scipy", "skops"):
        assert f"\n{name}==" in pinned, name
