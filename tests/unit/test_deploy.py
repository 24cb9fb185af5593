"""Deployment files checked offline: the Kubernetes manifests against the Kubernetes schemas (kubernetes-validate,
strict), the GitHub Actions workflows against their JSON schema (check-jsonschema's vendored copy), and the layout
they must describe: Detect replicas with health probes and session affinity, the store's URL from a secret, model
files read-only, a delivery job that builds, starts and health-checks the image and publishes it only on a tag."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = sorted((ROOT / "deploy" / "k8s").glob("*.yaml"))
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
KUBERNETES_VERSION = "1.37.0"
HEALTH = "/_stcore/health"


def _resources() -> list[dict[str, Any]]:
    return [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def _one(kind: str, name: str) -> dict[str, Any]:
    found = [r for r in _resources() if r["kind"] == kind and r["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_every_manifest_is_valid_kubernetes(path: Path) -> None:
    for resource in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        if resource:
            kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def test_the_strict_check_catches_a_mistake() -> None:
    """The validation is real: a misspelt field and a wrong type are refused."""
    detect = _one("Deployment", "plateops-detect")
    typo = {**detect, "spec": {**detect["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, KUBERNETES_VERSION, strict=True)
    wrong = {**detect, "spec": {**detect["spec"], "replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("name", ["plateops-console", "plateops-detect"])
def test_pods_probe_streamlits_health_and_read_the_store_url_from_a_secret(name: str) -> None:
    container = _one("Deployment", name)["spec"]["template"]["spec"]["containers"][0]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == HEALTH, f"{name} {probe}"
    env = {item["name"]: item for item in container["env"]}
    assert "secretKeyRef" in env["PLATEOPS_DATABASE_URL"]["valueFrom"], "the store URL comes from a secret"
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_detect_scales_out_with_sticky_sessions_and_read_only_models() -> None:
    detect = _one("Deployment", "plateops-detect")
    assert detect["spec"]["replicas"] >= 2
    container = detect["spec"]["template"]["spec"]["containers"][0]
    assert "--detect-only" in container["args"], "the replicas serve the public Detect page alone"
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/data/runs"].get("readOnly") is True, "model files are read-only on the replicas"
    assert not mounts["/data/predictions"].get("readOnly"), "prediction pictures are written"
    for service in ("plateops-detect", "plateops-console"):
        assert _one("Service", service)["spec"]["sessionAffinity"] == "ClientIP", service
    ingress = _one("Ingress", "plateops")
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    backends = {p["backend"]["service"]["name"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]}
    assert backends == {"plateops-detect", "plateops-console"}


def test_the_console_runs_once_and_needs_a_login() -> None:
    console = _one("Deployment", "plateops-console")
    assert console["spec"]["replicas"] == 1 and console["spec"]["strategy"]["type"] == "Recreate"
    container = console["spec"]["template"]["spec"]["containers"][0]
    assert "--allow-open" not in container["args"], "a console on the network needs a login, not --allow-open"
    assert any(m["mountPath"].endswith(".streamlit/secrets.toml") for m in container["volumeMounts"])


def test_no_real_secret_is_committed() -> None:
    secrets = [r for r in _resources() if r["kind"] == "Secret"]
    assert secrets and all("CHANGE-ME" in str(r.get("stringData")) for r in secrets)


@pytest.mark.parametrize("schema", ["vendor.github-workflows", "custom.github-workflows-require-timeout"])
def test_workflows_match_the_github_actions_schema(schema: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _workflow(name: str) -> dict[str, Any]:
    # PyYAML reads the key `on` as True (YAML 1.1); the jobs are what these checks need.
    return yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text(encoding="utf-8"))


def test_delivery_builds_starts_health_checks_and_publishes_only_on_a_tag() -> None:
    workflow = _workflow("ci.yml")
    deliver = workflow["jobs"]["deliver"]
    assert deliver["needs"] == "test", "nothing is delivered that did not pass the tests"
    assert deliver["permissions"] == {"contents": "read", "packages": "write"}
    steps = {step.get("name", ""): step for step in deliver["steps"]}
    script = "\n".join(str(step.get("run", "")) for step in deliver["steps"])
    assert "docker build" in script and "docker run" in script and HEALTH in script
    publish = steps["Publish on a version tag"]
    assert publish["if"] == "startsWith(github.ref, 'refs/tags/v')" and "docker push" in publish["run"]
    assert "v*" in workflow[True]["push"]["tags"]


def test_every_action_is_pinned_to_a_commit() -> None:
    for path in WORKFLOWS:
        for job in yaml.safe_load(path.read_text(encoding="utf-8"))["jobs"].values():
            for step in job["steps"]:
                if "uses" in step:
                    assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), f"{path.name}: {step['uses']}"
