"""`make serve` trains only when the store has no version of the model, never because a file
of the store cannot be read."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from scripts.pipeline.params import PROJECT_ROOT
from scripts.tools.harness.bento_process import free_port
from service.settings import default_model_name

pytestmark = pytest.mark.integration

STORE_ONE_VERSION = """
import sys
from pathlib import Path
from support.store_entries import METADATA, staging_folder
from service.model.store import save_model_version
print(save_model_version(sys.argv[1], staging_folder(Path(sys.argv[2])), METADATA, {}))
"""


def test_an_unreadable_alias_file_stops_make_serve_without_training(tmp_path):
    name = default_model_name()
    env = {
        **os.environ,
        "BENTOML_HOME": str(tmp_path / "home"),
        "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), str(PROJECT_ROOT / "tests")]),
    }
    subprocess.run(
        [sys.executable, "-c", STORE_ONE_VERSION, name, str(tmp_path)],
        cwd=PROJECT_ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    aliases = tmp_path / "home" / "aliases"
    aliases.mkdir(parents=True)
    (aliases / f"{name}.json").write_text("{not json")
    done = subprocess.run(
        ["make", "--no-print-directory", "serve", f"PORT={free_port()}"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert f"alias file {aliases / f'{name}.json'} cannot be read" in output
    assert "papermill" not in output.lower() and "01_validate_data" not in output
    assert len(list((tmp_path / "home" / "models" / name).iterdir())) == 2  # one version, latest
