"""An export killed midway, and a version folder broken by one, against the real store."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from support.store_entries import METADATA, staging_folder

from scripts.lifecycle.cli import main
from scripts.pipeline.params import PROJECT_ROOT
from service.model.store import find_model, model_versions, models_folder, save_model_version
from service.model.version import ModelStoreError

pytestmark = pytest.mark.integration

SAVE_ONE_VERSION = """
import sys
from pathlib import Path
from support.store_entries import METADATA
from service.model.store import save_model_version
save_model_version("killed", Path(sys.argv[1]), METADATA, {})
"""


def test_an_export_killed_while_it_copies_leaves_no_version_folder(tmp_path):
    home = tmp_path / "home"
    staging = staging_folder(tmp_path)
    (staging / "b.bin").write_bytes(os.urandom(256 * 1024 * 1024))  # long enough to be caught
    env = {
        **os.environ,
        "BENTOML_HOME": str(home),
        "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), str(PROJECT_ROOT / "tests")]),
    }
    export = subprocess.Popen(
        [sys.executable, "-c", SAVE_ONE_VERSION, str(staging)], cwd=PROJECT_ROOT, env=env
    )
    try:
        # The moment a version's folder exists, in the store or in the export's own: kill.
        deadline = time.monotonic() + 60
        while not list(home.glob("models/killed/*/")) and not list(home.glob("*/*/killed/*/")):
            assert export.poll() is None, "the export ended before it could be killed"
            assert time.monotonic() < deadline, "no version folder appeared in 60 s"
            time.sleep(0.001)
        time.sleep(0.02)
        os.kill(export.pid, signal.SIGKILL)
    finally:
        export.wait()
    # A version in the store is whole: its model.yaml and every byte of its files.
    for path in home.glob("models/killed/*/"):
        assert (path / "model.yaml").stat().st_size > 0, path
        assert (path / "b.bin").stat().st_size == (staging / "b.bin").stat().st_size, path


@pytest.fixture
def broken_folder():
    """A version folder as a killed BentoML save left it, removed again afterwards: the store
    is the session's, and `bentoml.models.list()` of other tests would fail on it."""
    broken = models_folder() / "brokenstore" / "zzzzzzzzzzzzzzzz"
    yield broken
    shutil.rmtree(broken.parent, ignore_errors=True)


def test_a_broken_version_folder_is_named_and_skipped_by_every_command(
    tmp_path, capsys, broken_folder
):
    good = save_model_version("brokenstore", staging_folder(tmp_path), METADATA, {})
    broken = broken_folder
    broken.mkdir()
    (broken / "model.yaml").write_text("")  # what a killed BentoML save left behind
    assert [str(model.tag) for model in model_versions("brokenstore")] == [good]

    assert main(["models", "--name", "brokenstore"]) == 0
    out = capsys.readouterr().out
    assert good in out and f"rm -r {broken}" in out

    assert main(["resolve", "brokenstore:zzzzzzzzzzzzzzzz"]) == 1
    assert "brokenstore:zzzzzzzzzzzzzzzz is broken" in capsys.readouterr().err
    (models_folder() / "brokenstore" / "latest").write_text("zzzzzzzzzzzzzzzz")
    with pytest.raises(ModelStoreError, match="is broken .*rm -r"):
        find_model("brokenstore:latest")
