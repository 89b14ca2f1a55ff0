"""The Helm chart lints, renders and validates against the Kubernetes schemas."""

from __future__ import annotations

import json

import pytest

from tests.deploy.conftest import CHART, find, profile_values, render

CUSTOM_RESOURCES = {("monitoring.coreos.com/v1", "ServiceMonitor")}


def test_lint_is_clean():
    import helm_python

    report = helm_python.lint(str(CHART), profile_values("default"), strict=True)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_every_manifest_validates_against_kubernetes_schemas(rendered):
    import kubernetes_validate

    profile, manifests = rendered
    kinds = set()
    for manifest in manifests:
        kinds.add(manifest["kind"])
        if (manifest["apiVersion"], manifest["kind"]) in CUSTOM_RESOURCES:
            continue  # a CRD: no upstream schema (checked by the assertions below)
        kubernetes_validate.validate(manifest, "1.30", strict=True)
    assert {"Deployment", "Service", "ConfigMap", "HorizontalPodAutoscaler"} <= kinds
    assert {"PodDisruptionBudget", "Job", "NetworkPolicy", "ServiceAccount"} <= kinds


def test_api_pods(rendered):
    profile, manifests = rendered
    api = find(manifests, "Deployment", "-api")["spec"]["template"]["spec"]
    container = api["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["startupProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert api["topologySpreadConstraints"]
    gpu = "nvidia.com/gpu" in container["resources"]["limits"]
    assert gpu == (profile == "gpu")
    assert container["image"].endswith("api-gpu" if gpu else "api-cpu")
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["NUNER_SECRETS_DIR"] == "/var/run/secrets/nuner"  # the URL is a file there
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["database"] == "/var/run/secrets/nuner"
    sources = next(v for v in api["volumes"] if v["name"] == "database")["projected"]["sources"]
    files = [item["path"] for source in sources for item in source["secret"]["items"]]
    assert files == ["nuner_database_url", "nuner_api_keys"]  # API keys on by default
    hpa = find(manifests, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"


def test_worker_pods(rendered):
    profile, manifests = rendered
    worker = find(manifests, "Deployment", "-worker")["spec"]["template"]["spec"]
    container = worker["containers"][0]
    assert container["command"] == ["nuner", "worker"]
    assert worker["terminationGracePeriodSeconds"] >= 300
    assert ("nvidia.com/gpu" in container["resources"]["limits"]) == (profile != "s3")
    assert "worker-alive" in " ".join(container["livenessProbe"]["exec"]["command"])
    config = find(manifests, "ConfigMap")["data"]
    assert config["NUNER_EMBEDDED_WORKER"] == "false"


def test_bundle_storage(rendered):
    profile, manifests = rendered
    claim = find(manifests, "PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    if profile == "s3":
        volume = find(manifests, "PersistentVolume")
        assert volume["spec"]["csi"]["volumeAttributes"]["bucketName"] == "nuner-bundles"
        assert "region eu-west-1" in volume["spec"]["mountOptions"]
        assert claim["spec"]["volumeName"] == volume["metadata"]["name"]
    else:
        assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_secrets(rendered):
    profile, manifests = rendered
    secrets = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "Secret"}
    keys = json.loads(secrets["nuner-api-keys"]["stringData"]["nuner_api_keys"])
    assert keys[0]["scope"] == "write"
    if profile == "s3":  # existingSecret for the database; secretEnv rendered
        assert set(secrets) == {"nuner-api-keys", "nuner-env"}
        assert keys[1]["namespace"] == "team-a"
    else:
        url = secrets["nuner-db"]["stringData"]["database-url"]
        assert url.startswith("postgresql+psycopg://")


def test_missing_required_values_fail_with_a_clear_message():
    import helm_python

    with pytest.raises(helm_python.HelmError, match="set auth.apiKeys"):
        render({"database": {"url": "postgresql://x/y"}})
    with pytest.raises(helm_python.HelmError, match="set database.url"):
        render({"auth": {"enabled": False}})


@pytest.mark.parametrize(
    "bad",
    [
        {"api": {"service": {"type": "Loadbalancer"}}},
        {"database": {"url": "mysql://x"}},
        {"settings": {"lowercase": "1"}},
        {"worker": {"terminationGracePeriodSeconds": 5}},
    ],
)
def test_schema_refuses_bad_values(bad):
    import helm_python

    values = {**profile_values("default")}
    for key, value in bad.items():
        values[key] = {**values.get(key, {}), **value}
    with pytest.raises(helm_python.HelmValuesError):
        render(values)


def test_images_can_be_pinned_by_digest():
    values = {**profile_values("default"), "image": {"digests": {"worker": "sha256:" + "a" * 64}}}
    manifests = render(values)
    worker = find(manifests, "Deployment", "-worker")["spec"]["template"]["spec"]
    api = find(manifests, "Deployment", "-api")["spec"]["template"]["spec"]
    assert worker["containers"][0]["image"].endswith("@sha256:" + "a" * 64)
    assert api["containers"][0]["image"].endswith(":0.1.0-api-cpu")
