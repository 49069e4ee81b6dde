"""The Kubernetes manifests render with kustomize, validate offline and keep their promises.

Rendering needs `kubectl` (its built-in kustomize); without it these tests skip and say why.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support.manifests import KUBECTL, one, render

from scripts.pipeline.params import PROJECT_ROOT
from scripts.tools.release.set_image import set_image
from service.errors import UserError
from service.http.auth import AuthSettings

K8S = PROJECT_ROOT / "deploy" / "k8s"
TRACKS = ("blue", "green")
KUSTOMIZATIONS = ("base", "overlays/blue", "overlays/green", "live", "api-keys", "storage", "jobs")
# The oldest Kubernetes the manifests are meant for; kubernetes-validate ships its schemas.
KUBERNETES_VERSION = "1.33"
VALIDATE = Path(sys.executable).with_name("kubernetes-validate")
BENTOML_UID = 1034  # the user BentoML's Dockerfile creates
API_KEYS_MOUNT = "/var/run/secrets/model-service/api-keys"

pytestmark = pytest.mark.skipif(
    KUBECTL is None, reason="kubectl is not installed, so kustomize cannot render the manifests"
)


@pytest.fixture(scope="module")
def tracks() -> dict[str, list[dict]]:
    return {track: render(K8S / "overlays" / track) for track in TRACKS}


def test_every_kustomization_is_checked():
    found = {str(p.parent.relative_to(K8S)) for p in K8S.rglob("kustomization.yaml")}
    # monitoring holds Prometheus operator resources, which kubernetes-validate has no schema
    # for (it only warns): test_k8s_monitoring.py checks them instead.
    assert found == {*KUSTOMIZATIONS, "monitoring"}


def test_every_kustomization_validates_against_the_kubernetes_schemas(tmp_path):
    # One kubernetes-validate run for all: each run spends about 2 s starting up.
    manifests = []
    for name in KUSTOMIZATIONS:
        manifests.append(tmp_path / f"{name.replace('/', '-')}.yaml")
        manifests[-1].write_text(yaml.safe_dump_all(render(K8S / name)))
    done = subprocess.run(
        [str(VALIDATE), "--strict", "-k", KUBERNETES_VERSION, *map(str, manifests)],
        capture_output=True,
        text=True,
        check=False,
    )
    output = done.stdout + done.stderr
    # It exits 0 with only a WARN line for an apiVersion it has no schema for.
    problems = [line for line in output.splitlines() if line.startswith(("WARN", "ERROR"))]
    assert done.returncode == 0 and not problems, output
    # live and api-keys hold one object each; base and each overlay five; storage three
    # claims; jobs two CronJobs.
    assert output.count(" passed for resource ") == 1 + 1 + 5 * 3 + 3 + 2, output


@pytest.mark.parametrize("track", TRACKS)
def test_pods_run_as_bentoml_on_a_read_only_root(tracks, track):
    pod = one(tracks[track], "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == BENTOML_UID
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    # What BentoML writes at run time must land on a volume.
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    env = {e["name"]: e["value"] for e in container["env"]}
    assert {"/tmp", env["BENTOML_HOME"]} <= mounts


@pytest.mark.parametrize("track", TRACKS)
def test_probes_use_bentoml_health_endpoints_on_port_3000(tracks, track):
    (container,) = one(tracks[track], "Deployment")["spec"]["template"]["spec"]["containers"]
    assert container["ports"] == [{"name": "http", "containerPort": 3000}]
    paths = {
        probe: container[probe]["httpGet"]["path"]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe")
    }
    assert paths == {
        "startupProbe": "/readyz",
        "readinessProbe": "/readyz",
        "livenessProbe": "/livez",
    }
    assert all(container[p]["httpGet"]["port"] == "http" for p in paths)


@pytest.mark.parametrize("track", TRACKS)
def test_pods_have_limits_graceful_stop_and_metrics_scraping(tracks, track):
    template = one(tracks[track], "Deployment")["spec"]["template"]
    (container,) = template["spec"]["containers"]
    for bound in ("requests", "limits"):
        assert set(container["resources"][bound]) == {"cpu", "memory"}
    sleep = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert template["spec"]["terminationGracePeriodSeconds"] > sleep > 0
    assert template["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "3000",
        "prometheus.io/path": "/metrics",
    }


@pytest.mark.parametrize("track", TRACKS)
def test_every_object_of_a_track_is_named_and_selects_by_its_track(tracks, track):
    objects = tracks[track]
    assert {o["kind"] for o in objects} == {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
    }
    assert all(o["metadata"]["name"] == f"model-service-{track}" for o in objects)
    deployment = one(objects, "Deployment")
    assert deployment["spec"]["selector"]["matchLabels"]["track"] == track
    assert deployment["spec"]["template"]["metadata"]["labels"]["track"] == track
    assert one(objects, "Service")["spec"]["selector"]["track"] == track
    assert one(objects, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"]["track"] == track
    target = one(objects, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert "replicas" not in deployment["spec"], "the autoscaler owns the replica count"


def test_live_service_selects_exactly_one_track(tracks):
    live = one(render(K8S / "live"), "Service")
    assert live["metadata"]["name"] == "model-service"
    selector = live["spec"]["selector"]
    assert selector["track"] in TRACKS
    for track in TRACKS:
        labels = one(tracks[track], "Deployment")["spec"]["template"]["metadata"]["labels"]
        selected = selector.items() <= labels.items()
        assert selected == (track == selector["track"])


def test_set_image_writes_the_build_image_into_the_rendered_deployment(tmp_path):
    tree = tmp_path / "k8s"
    shutil.copytree(K8S, tree)
    overlay = tree / "overlays" / "green"
    set_image(overlay, "registry.example.com/iris", tag="old")
    set_image(overlay, "registry.example.com/iris", tag="20250101-abc123")
    (container,) = one(render(overlay), "Deployment")["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.example.com/iris:20250101-abc123"
    text = (overlay / "kustomization.yaml").read_text()
    assert text.startswith("# The green track.") and text.count("- name: model-service") == 1
    blue = one(render(tree / "overlays" / "blue"), "Deployment")
    assert blue["spec"]["template"]["spec"]["containers"][0]["image"] == "model-service:unset"


def test_set_image_rejects_a_name_that_already_has_a_tag(tmp_path):
    shutil.copytree(K8S, tmp_path / "k8s")
    with pytest.raises(UserError, match="--name 'iris:1' holds a tag"):
        set_image(tmp_path / "k8s" / "overlays" / "blue", "iris:1", tag="2")


@pytest.fixture(scope="module")
def api_keys_secret() -> dict:
    return one(render(K8S / "api-keys"), "Secret")


@pytest.mark.parametrize("track", TRACKS)
def test_api_keys_come_from_the_mounted_secret(tracks, track, api_keys_secret):
    pod = one(tracks[track], "Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    volumes = [v for v in pod["volumes"] if "secret" in v]
    assert [v["secret"]["secretName"] for v in volumes] == [api_keys_secret["metadata"]["name"]]
    # Not suffixed per track: both tracks accept the keys clients already have.
    assert api_keys_secret["metadata"]["name"] == "model-service-api-keys"
    assert volumes[0]["secret"]["defaultMode"] == 0o440
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == volumes[0]["name"]]
    assert mount == {"name": volumes[0]["name"], "mountPath": API_KEYS_MOUNT, "readOnly": True}
    env = {e["name"]: e["value"] for e in container["env"]}
    assert "API_KEYS" not in env, "keys belong in the Secret, not in the manifest"
    assert env["API_KEYS_REQUIRED"] == "1"
    folder, _, key = env["API_KEYS_FILE"].rpartition("/")
    assert folder == API_KEYS_MOUNT
    assert key in api_keys_secret["stringData"]


def test_the_placeholder_secret_stops_start_up_until_a_key_is_set(
    tracks, api_keys_secret, tmp_path, monkeypatch
):
    # The environment the Deployment gives, with the file the Secret would mount.
    (container,) = one(tracks["blue"], "Deployment")["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    key_file = tmp_path / env["API_KEYS_FILE"].rpartition("/")[2]
    monkeypatch.delenv("API_KEYS", raising=False)
    monkeypatch.setenv("API_KEYS_REQUIRED", env["API_KEYS_REQUIRED"])
    monkeypatch.setenv("API_KEYS_FILE", str(key_file))
    key_file.write_text(api_keys_secret["stringData"][key_file.name])
    with pytest.raises(UserError, match="holds no key"):
        AuthSettings.from_env()
    key_file.write_text("# rotating\nnew-key-2\nold-key-1\n")
    settings = AuthSettings.from_env()
    assert settings.enabled and settings.required
    monkeypatch.delenv("API_KEYS_FILE")
    with pytest.raises(UserError, match="API_KEYS_REQUIRED=1"):
        AuthSettings.from_env()


def selects(selector: dict, labels: dict[str, str]) -> bool:
    """Return whether a Kubernetes label selector matches `labels` (an empty one matches all)."""
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        if operator == "In":
            matched = labels.get(key) in expression["values"]
        elif operator == "NotIn":
            matched = labels.get(key) not in expression["values"]
        else:
            matched = (key in labels) == (operator == "Exists")
        if not matched:
            return False
    return True


def admitted(policy: dict, pod_labels: dict[str, str], port: str) -> bool:
    """Return whether `policy` lets a pod with `pod_labels`, in any namespace, reach `port`."""
    for rule in policy["spec"].get("ingress", []):
        if port not in [p["port"] for p in rule.get("ports", [{"port": port}])]:
            continue
        for peer in rule.get("from", []):
            assert "ipBlock" not in peer, "an ipBlock admits by address, not by workload"
            # Every peer names pods; none admits a whole namespace or every pod.
            assert peer.get("podSelector"), peer
            if selects(peer["podSelector"], pod_labels):
                return True
    return False


@pytest.mark.parametrize("track", TRACKS)
def test_network_policy_admits_only_the_gateway_and_prometheus(tracks, track):
    policy = one(tracks[track], "NetworkPolicy")
    deployment = one(tracks[track], "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"] == deployment["spec"]["selector"]
    assert selects(policy["spec"]["podSelector"], pod_labels)
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    (port,) = container["ports"]
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": port["name"]}]
    gateway = {"app.kubernetes.io/component": "gateway", "app.kubernetes.io/name": "envoy"}
    prometheus = {"app.kubernetes.io/name": "prometheus"}
    assert admitted(policy, gateway, port["name"])
    assert admitted(policy, prometheus, port["name"])
    assert len(rule["from"]) == 2
    for other in (
        {},
        {"app": "client"},
        {"app.kubernetes.io/component": "frontend"},
        pod_labels,  # another model-service pod, of this track or the other
        {**pod_labels, "track": next(t for t in TRACKS if t != track)},
    ):
        assert not admitted(policy, other, port["name"]), other
