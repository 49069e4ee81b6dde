"""`bentoml build` packs the service code, the model version and only the serving dependencies."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent
SERVING_ONLY_ABSENT = ("jupyterlab", "papermill", "pytest", "nbmake", "skl2onnx", "hypothesis")


def test_bento_carries_the_model_version_and_service_code_only(iris_run, tmp_path):
    requirements = Path("build/requirements.txt")
    subprocess.run(["make", "build/requirements.txt"], check=True, capture_output=True)
    pinned = requirements.read_text()
    for name in SERVING_ONLY_ABSENT:
        assert f"\n{name}==" not in pinned, name
    assert "\nbentoml==" in pinned and "\nonnxruntime==" in pinned

    env_args = {"capture_output": True, "text": True, "check": True}
    env = {**os.environ, "MODEL_TAG": iris_run.tag}
    built = subprocess.run([BIN / "bentoml", "build", "--output", "tag"], env=env, **env_args)
    tag = built.stdout.strip().rsplit("__tag__:", 1)[-1]
    info = json.loads(
        subprocess.run([BIN / "bentoml", "get", tag, "-o", "json"], env=env, **env_args).stdout
    )
    models = [m["tag"] for service in info["services"] for m in service["models"]]
    assert models == [iris_run.tag]

    bento_path = subprocess.run(
        [BIN / "python", "-c", f"import bentoml; print(bentoml.get({tag!r}).path)"],
        env=env,
        **env_args,
    ).stdout.strip()
    source = sorted(
        p.relative_to(Path(bento_path) / "src").parts[0]
        for p in (Path(bento_path) / "src").iterdir()
    )
    assert source == ["bentofile.yaml", "params.yaml", "service"]
