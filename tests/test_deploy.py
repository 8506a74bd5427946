"""deploy/ and compose.yaml: schema-valid, and consistent with the gateway they run.

Validated offline with registry packages: the Kubernetes 1.30 JSON schemas shipped by
`kubernetes-validate` (strict: unknown fields fail), the compose-spec schema shipped
by `check-jsonschema`, and `promtool check config`. Not run here (no Docker engine,
no cluster): `docker compose up`, `kubectl apply`, image builds (deploy/README.md).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from gateway.config.loading import load_settings
from tests.support import ROOT

K8S = ROOT / "deploy" / "kubernetes"
COMPOSE = ROOT / "compose.yaml"
K8S_VERSION = "1.30.0"


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _all_k8s() -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in _docs(path):
            out[(doc["kind"], doc["metadata"]["name"])] = doc
    return out


@pytest.mark.parametrize("path", sorted(p.name for p in K8S.glob("*.yaml")
                                        if p.name not in ("kustomization.yaml",
                                                          "servicemonitor.yaml")))
def test_manifests_match_the_kubernetes_schemas(path: str) -> None:
    for doc in _docs(K8S / path):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_the_validator_refuses_a_broken_manifest() -> None:
    deployment = _all_k8s()[("Deployment", "privacy-gateway")]
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"][
        "paht"] = "/readyz"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_kustomization_lists_every_manifest_it_needs() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    optional = {"kustomization.yaml", "servicemonitor.yaml", "secret.example.yaml"}
    assert listed == {p.name for p in K8S.glob("*.yaml")} - optional


def test_gateway_deployment_is_highly_available_and_probed() -> None:
    objects = _all_k8s()
    deployment = objects[("Deployment", "privacy-gateway")]
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    assert deployment["spec"]["replicas"] >= 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert set(container["resources"]["requests"]) == {"cpu", "memory"}
    assert pod["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    labels = pod["metadata"]["labels"]
    pdb = objects[("PodDisruptionBudget", "privacy-gateway")]
    assert pdb["spec"]["minAvailable"] >= 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert objects[("Service", "privacy-gateway")]["spec"]["selector"].items() <= labels.items()
    monitor = _docs(K8S / "servicemonitor.yaml")[0]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= (
        objects[("Service", "privacy-gateway")]["metadata"]["labels"].items())
    # Drain: the grace period covers the preStop pause and aiohttp's 10 s shutdown.
    assert pod["spec"]["terminationGracePeriodSeconds"] >= 10 + 5 + 5


def test_secrets_come_from_the_secret_and_match_the_policy() -> None:
    objects = _all_k8s()
    secret_keys = set(objects[("Secret", "privacy-gateway-secrets")]["stringData"])
    container = objects[("Deployment", "privacy-gateway")]["spec"]["template"]["spec"][
        "containers"][0]
    from_secret = {e["name"]: e["valueFrom"]["secretKeyRef"]["key"]
                   for e in container["env"] if "valueFrom" in e}
    assert set(from_secret.values()) <= secret_keys
    policy_text = (ROOT / "deploy" / "policy.toml").read_text()
    needed = set(re.findall(r'^\w+_env = "(\w+)"', policy_text, re.MULTILINE))
    assert needed == set(from_secret), "every secret the policy names comes from the Secret"
    # No literal secret values in the Deployment.
    assert all("value" not in e or e["name"] == "PROMETHEUS_MULTIPROC_DIR"
               for e in container["env"])


def test_the_shipped_policy_loads_and_the_configmap_is_the_same(tmp_path: Path) -> None:
    policy = (ROOT / "deploy" / "policy.toml").read_text()
    configmap = _all_k8s()[("ConfigMap", "privacy-gateway-policy")]
    assert configmap["data"]["policy.toml"].strip() == policy.strip()
    env = {"PRIVACY_GATEWAY_PSEUDONYM_KEY": "k" * 48, "PRIVACY_GATEWAY_IDP_SECRET": "s" * 48,
           "PRIVACY_GATEWAY_REDIS_URL": "redis+sentinel://pgw:pw@s1:26379,s2:26379/pgw/0"}
    settings = load_settings(ROOT / "deploy" / "policy.toml", env=env)
    assert not settings.policy.gateway.development
    assert not settings.policy.dev_idp.enabled
    assert settings.secrets.has("store.redis_url")
    mounted = tomllib.loads(policy)["retention"]["audit_dir"]
    mounts = _all_k8s()[("Deployment", "privacy-gateway")]["spec"]["template"]["spec"][
        "containers"][0]["volumeMounts"]
    assert mounted in {m["mountPath"] for m in mounts}


def test_redis_keeps_an_append_only_file() -> None:
    redis = _all_k8s()[("StatefulSet", "redis")]
    args = redis["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    assert redis["spec"]["volumeClaimTemplates"]


def _check_compose(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
         str(path)], capture_output=True, text=True, timeout=60, check=False)


def test_compose_matches_the_compose_spec(tmp_path: Path) -> None:
    done = _check_compose(COMPOSE)
    assert done.returncode == 0, done.stdout + done.stderr
    broken = tmp_path / "compose.yaml"
    broken.write_text(COMPOSE.read_text().replace("restart: unless-stopped",
                                                  "restart: [unless-stopped]", 1))
    assert _check_compose(broken).returncode != 0


def test_compose_runs_two_gateways_redis_prometheus_grafana() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    gateways = [s for s in services.values() if s.get("image", "").startswith("privacy-")]
    assert len(gateways) == 2
    assert "--appendonly" in services["redis"]["command"]
    for service in ("prometheus", "grafana"):
        for volume in services[service]["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).is_file(), source
    grafana = " ".join(services["grafana"]["volumes"])
    assert "privacy-gateway-dashboard.json" in grafana
    assert "privacy-gateway-alerts.yml" in " ".join(services["prometheus"]["volumes"])
    assert (ROOT / compose["configs"]["policy"]["file"]).is_file()
    # Every variable compose.yaml requires is in the .env template.
    needed = set(re.findall(r"\$\{(\w+):\?", COMPOSE.read_text()))
    template = (ROOT / "deploy" / "compose" / "env.example").read_text()
    assert needed == set(re.findall(r"^(\w+)=", template, re.MULTILINE))


def test_compose_prometheus_config_loads_the_shipped_rules(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed: run scripts/test.sh, which installs it")
    config = (ROOT / "deploy" / "compose" / "prometheus.yml").read_text()
    rules = ROOT / "config" / "prometheus" / "privacy-gateway-alerts.yml"
    assert "/etc/prometheus/privacy-gateway-alerts.yml" in config
    local = tmp_path / "prometheus.yml"
    local.write_text(config.replace("/etc/prometheus/privacy-gateway-alerts.yml", str(rules)))
    done = subprocess.run([promtool, "check", "config", str(local)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "job_name: privacy-gateway" in config  # the alert rules match this job
