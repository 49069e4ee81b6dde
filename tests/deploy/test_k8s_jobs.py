"""The scheduled jobs (deploy/k8s/jobs) keep the service's lock-down, read the log it writes,
and turn the monitor's drift exit into a failed Job.

Rendering needs `kubectl` (its built-in kustomize); without it these tests skip and say why.
tests/deploy/test_k8s_manifests.py validates them against the Kubernetes schemas.
"""

from __future__ import annotations

import shutil

import pytest
from support.manifests import KUBECTL, one, render

from scripts.monitor.run import DRIFT_EXIT
from scripts.pipeline.params import PROJECT_ROOT
from scripts.tools.release.pipeline_image import PLACEHOLDER
from scripts.tools.release.set_image import set_image

K8S = PROJECT_ROOT / "deploy" / "k8s"
DOCKERFILE = PROJECT_ROOT / "deploy" / "image" / "Dockerfile.pipeline"
COMMANDS = {
    "model-monitor": ["python", "-m", "scripts.monitor"],
    "model-retrain": ["python", "-m", "scripts.lifecycle.retrain"],
}

pytestmark = pytest.mark.skipif(
    KUBECTL is None, reason="kubectl is not installed, so kustomize cannot render the manifests"
)


@pytest.fixture(scope="module")
def cronjobs() -> dict[str, dict]:
    return {job["metadata"]["name"]: job for job in render(K8S / "jobs")}


@pytest.fixture(scope="module")
def service_pod() -> dict:
    return one(render(K8S / "overlays" / "blue"), "Deployment")["spec"]["template"]["spec"]


def _pod(job: dict) -> dict:
    return job["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def _mounts(container: dict, pod: dict) -> dict[str, tuple[dict, dict]]:
    """Return each mount path with its mount and the volume behind it."""
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    return {m["mountPath"]: (m, volumes[m["name"]]) for m in container["volumeMounts"]}


def _image_env() -> dict[str, str]:
    """Return the ENV the pipeline image sets, from its Dockerfile."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    line = next(line for line in text.splitlines() if line.startswith("ENV "))
    return dict(item.split("=", 1) for item in line.split()[1:])


def test_both_jobs_are_scheduled_one_at_a_time_and_bounded(cronjobs):
    assert set(cronjobs) == set(COMMANDS)
    for job in cronjobs.values():
        spec = job["spec"]
        assert spec["concurrencyPolicy"] == "Forbid"
        assert spec["startingDeadlineSeconds"] > 0
        assert spec["successfulJobsHistoryLimit"] >= 1 and spec["failedJobsHistoryLimit"] >= 1
        run = spec["jobTemplate"]["spec"]
        assert run["backoffLimit"] >= 0 and run["activeDeadlineSeconds"] > 0
        assert _pod(job)["restartPolicy"] == "Never"


def test_jobs_run_locked_down_as_the_service_does(cronjobs, service_pod):
    (service,) = service_pod["containers"]
    for name, job in cronjobs.items():
        pod = _pod(job)
        assert pod["securityContext"] == service_pod["securityContext"], name
        assert pod["automountServiceAccountToken"] is False
        (container,) = pod["containers"]
        assert container["securityContext"] == service["securityContext"], name
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["command"] == COMMANDS[name]
        for bound in ("requests", "limits"):
            assert set(container["resources"][bound]) == {"cpu", "memory"}


def test_every_folder_the_image_writes_is_a_writable_volume(cronjobs):
    env = _image_env()
    folders = {"/tmp", env["BENTOML_HOME"], "/app/reports"}
    # Jupyter, IPython and matplotlib write under HOME and the folders the image names: /tmp.
    for name in ("HOME", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "MPLCONFIGDIR", "XDG_CACHE_HOME"):
        assert env[name].startswith("/tmp"), name
    for job in cronjobs.values():
        (container,) = _pod(job)["containers"]
        mounts = _mounts(container, _pod(job))
        for folder in folders:
            assert not mounts[folder][0].get("readOnly"), folder


def test_jobs_read_the_prediction_log_the_service_writes(cronjobs, service_pod):
    (service,) = service_pod["containers"]
    log_dir = {e["name"]: e["value"] for e in service["env"]}["PREDICTION_LOG_DIR"]
    service_claim = _mounts(service, service_pod)[log_dir][1]["persistentVolumeClaim"]
    claims = {c["metadata"]["name"]: c for c in render(K8S / "storage")}
    assert claims[service_claim["claimName"]]["spec"]["accessModes"] == ["ReadWriteMany"]
    for job in cronjobs.values():
        (container,) = _pod(job)["containers"]
        assert f"log_dir={log_dir}" in container["args"]
        mount, volume = _mounts(container, _pod(job))[log_dir]
        assert mount["readOnly"] is True
        assert volume["persistentVolumeClaim"]["claimName"] == service_claim["claimName"]
        for _, other in _mounts(container, _pod(job)).values():
            if "persistentVolumeClaim" in other:
                assert other["persistentVolumeClaim"]["claimName"] in claims


def test_monitor_fails_its_job_at_once_on_drift(cronjobs):
    job = cronjobs["model-monitor"]
    (container,) = _pod(job)["containers"]
    assert "--fail-on-drift" in container["args"]
    (rule,) = job["spec"]["jobTemplate"]["spec"]["podFailurePolicy"]["rules"]
    assert rule["action"] == "FailJob"
    assert rule["onExitCodes"] == {
        "containerName": container["name"],
        "operator": "In",
        "values": [DRIFT_EXIT],
    }


def test_retrain_leaves_promotion_to_the_gate_settings(cronjobs):
    (container,) = _pod(cronjobs["model-retrain"])["containers"]
    assert not any("auto_promote" in arg or "promotion" in arg for arg in container["args"])


def test_set_image_points_both_jobs_at_the_pipeline_image(tmp_path):
    shutil.copytree(K8S, tmp_path / "k8s")
    jobs = tmp_path / "k8s" / "jobs"
    set_image(jobs, "registry.example.com/iris-pipeline", tag="abc123", placeholder=PLACEHOLDER)
    for job in render(jobs):
        (container,) = _pod(job)["containers"]
        assert container["image"] == "registry.example.com/iris-pipeline:abc123"
    assert (jobs / "kustomization.yaml").read_text().startswith("# The scheduled half")
