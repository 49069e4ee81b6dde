"""The pipeline image `make pipeline-image` builds, run as deploy/k8s/jobs runs it: non-root, a
read-only root, and only the Jobs' volumes (the model store, reports/, the prediction log read
only, /tmp). The monitor Job fails on a drifted log and passes on a steady one; the retrain Job
writes a challenger into the mounted store.

Needs buildah and root (the base image is made without a registry); skipped elsewhere.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from support.image_inventory import INVENTORY
from support.monitor_runs import shifted_iris_log

from scripts.tools.harness.locked_job import Volume, run_locked
from service.model.store import bentoml_home, load_model_version

pytestmark = pytest.mark.integration

# Where deploy/k8s/jobs mounts each volume.
STORE = "/var/lib/bentoml"
REPORTS = "/app/reports"
LOG = "/var/log/model-service"
JOB_UID = 1034
# What the image lets its user write, run by its own Python.
PROBE = """
import errno, json, os
def writable(folder):
    try:
        open(os.path.join(folder, "probe"), "w").close()
        return True
    except OSError as error:
        assert error.errno in (errno.EROFS, errno.EACCES), error
        return False
print(json.dumps({"uid": os.getuid(), "writable": {f: writable(f) for f in
    ("/", "/app", "/app/.venv", "/var/log/model-service", "/var/lib/bentoml", "/app/reports", "/tmp")}}))
"""


@pytest.fixture(scope="module")
def pipeline_image() -> str:
    if shutil.which("buildah") is None or os.geteuid() != 0:
        pytest.skip("the pipeline image is built and run with buildah, as root here")
    from support.base_image import ensure_base_image

    from scripts.tools.bench.image import image_layers
    from scripts.tools.release.pipeline_image import build

    ensure_base_image()
    # One tag, rebuilt by each run, so runs do not pile up images in buildah's storage.
    image, seconds = build(tag="test")
    megabytes = sum(layer.megabytes for layer in image_layers(image))
    print(f"pipeline image built in {seconds:.1f} s: {megabytes:.0f} MB")
    return image


def _store_with(tag: str, folder: Path) -> Path:
    """Return a store holding the tests' versions of `tag`'s model and its aliases, owned by the
    Jobs' user as a volume with fsGroup would be."""
    name = tag.partition(":")[0]
    home = bentoml_home()
    shutil.copytree(home / "models" / name, folder / "models" / name)
    if (home / "aliases").exists():
        shutil.copytree(home / "aliases", folder / "aliases")
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, JOB_UID, JOB_UID)
    return folder


def _writable(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    os.chown(folder, JOB_UID, JOB_UID)
    return folder


def _run_folder(parent: Path) -> Path:
    """Return the one run folder under `parent` (its `latest` link aside)."""
    (folder,) = [path for path in parent.iterdir() if path.is_dir() and not path.is_symlink()]
    return folder


def _job(image: str, command: list[str], store: Path, reports: Path, log: Path):
    return run_locked(
        image,
        command,
        [Volume(store, STORE), Volume(reports, REPORTS), Volume(log, LOG, read_only=True)],
    )


def test_the_image_runs_as_its_user_on_a_read_only_root(pipeline_image, tmp_path):
    log = _writable(tmp_path / "log")
    done = _job(
        pipeline_image,
        ["python", "-c", PROBE],
        _writable(tmp_path / "store"),
        _writable(tmp_path / "reports"),
        log,
    )
    assert done.returncode == 0, done.stdout
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["uid"] == JOB_UID
    assert seen["writable"] == {
        "/": False,
        "/app": False,
        "/app/.venv": False,
        LOG: False,
        STORE: True,
        REPORTS: True,
        "/tmp": True,
    }
    assert not (log / "probe").exists()


def test_the_image_holds_the_pipeline_group_and_no_tools_or_caches(pipeline_image, tmp_path):
    from scripts.tools.release.pipeline_image import LEAVE_OUT

    folders = [_writable(tmp_path / name) for name in ("store", "reports", "log")]
    done = _job(pipeline_image, ["python", "-c", INVENTORY], *folders)
    assert done.returncode == 0, done.stdout
    inventory = json.loads(done.stdout.strip().splitlines()[-1])
    assert inventory["tools"] == [] and inventory["compilers"] == [], inventory
    assert inventory["caches"] == [], inventory["caches"]
    installed = set(inventory["distributions"])
    needed = {"papermill", "ipykernel", "nbconvert", "scikit-learn", "great-expectations"}
    assert needed | {"bentoml", "onnxruntime", "skl2onnx", "pyarrow", "lightgbm"} <= installed
    assert not (set(LEAVE_OUT) | {"pytest", "ruff", "nbmake", "mkdocs", "uv"}) & installed


def test_the_monitor_job_fails_on_drift_and_passes_without(pipeline_image, iris_run, tmp_path):
    version = load_model_version(iris_run.tag)
    store = _store_with(iris_run.tag, tmp_path / "store")
    monitor = ["python", "-m", "scripts.monitor", "-p", f"log_dir={LOG}", "--fail-on-drift"]
    monitor += ["-p", f"model_tag={iris_run.tag}"]

    drifted = shifted_iris_log(tmp_path / "drifted", version)
    reports = _writable(tmp_path / "reports-drifted")
    done = _job(pipeline_image, monitor, store, reports, drifted.folder)
    assert done.returncode == 3, done.stdout[-3000:]
    assert f"drifted features: {drifted.shifted}" in done.stdout
    run = _run_folder(reports / "monitor")
    assert (run / "04_monitor.html").exists()
    assert json.loads((run / "drift.json").read_text())["drifted"] == [drifted.shifted]

    steady = shifted_iris_log(tmp_path / "steady", version, shift=0.0)
    done = _job(
        pipeline_image, monitor, store, _writable(tmp_path / "reports-steady"), steady.folder
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert "drifted features: none" in done.stdout


def test_the_monitor_job_on_an_unseeded_store_says_what_is_missing(pipeline_image, tmp_path):
    log = _writable(tmp_path / "log")
    (log / "predictions-pod-1.jsonl").write_text("")
    store = _writable(tmp_path / "store")
    monitor = ["python", "-m", "scripts.monitor", "-p", f"log_dir={LOG}", "--fail-on-drift"]
    done = _job(pipeline_image, monitor, store, _writable(tmp_path / "reports"), log)
    assert done.returncode == 1, done.stdout
    assert (
        f"monitor failed: no model 'iris:latest' in the BentoML model store at {STORE}/models"
        in (done.stdout)
    )
    assert "Traceback" not in done.stdout
    # BentoML makes its store's folders when it starts: the store's volume is writable for both.
    assert (store / "models").is_dir()


def test_the_retrain_job_writes_a_challenger_into_the_mounted_store(
    pipeline_image, iris_run, tmp_path
):
    version = load_model_version(iris_run.tag)
    store = _store_with(iris_run.tag, tmp_path / "store")
    name = iris_run.tag.partition(":")[0]
    before = {path.name for path in (store / "models" / name).iterdir() if path.is_dir()}
    log = shifted_iris_log(tmp_path / "log", version)
    reports = _writable(tmp_path / "reports")
    retrain = ["python", "-m", "scripts.lifecycle.retrain", "-p", f"log_dir={LOG}"]
    command = [*retrain, "-p", f"model_tag={iris_run.tag}"]
    done = _job(pipeline_image, command, store, reports, log.folder)
    assert done.returncode == 0, done.stdout[-5000:]

    after = {path.name for path in (store / "models" / name).iterdir() if path.is_dir()}
    (new,) = after - before
    written = json.loads((_run_folder(reports / "retrain") / "retrain.json").read_text())
    assert written["challenger"] == f"{name}:{new}"
    assert written["champion"] == iris_run.tag
    assert written["rows"]["labelled"] == log.labelled
    assert written["log_dir"] == LOG
    assert f"challenger: {name}:{new}" in done.stdout
    # The gate's verdict is there for a person; promotion stays a step of its own.
    assert (Path(written["run_dir"].replace(REPORTS, str(reports))) / "comparison.json").exists()
