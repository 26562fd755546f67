"""The Helm chart (deploy/helm/correlate), rendered offline by Helm's own engine (the helm-python-sdk wheel binds
Helm's Go SDK; no helm binary, no cluster) with its default values and with every option on, and each manifest
checked against Kubernetes' schemas, as `helm template ... | kubeconform` would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from helm_python.chart import Chart

from correlate.api.access import KeyRing
from correlate.config import load_config
from correlate.notify.delivery import parse_delivery
from test_deploy import DEPLOY, KUBERNETES_VERSION

CHART = DEPLOY / "helm" / "correlate"
EVERYTHING = CHART / "ci" / "every-option-values.yaml"
OPERATOR_CRDS = "monitoring.coreos.com/v1"


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    with Chart.load(str(CHART)) as chart:
        files = chart.render(values, name="correlate", namespace="correlate", is_install=True)
    return [doc for _, text in sorted(files.items()) for doc in yaml.safe_load_all(text) if doc]


DEFAULTS = render({})
EVERY_OPTION = render(yaml.safe_load(EVERYTHING.read_text()))


def find(documents: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (document,) = [d for d in documents if d["kind"] == kind and d["metadata"]["name"] == name]
    return document


def pods(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d["spec"]["template"]["spec"] for d in documents if d["kind"] in ("Deployment", "Job")]


@pytest.mark.parametrize("documents", [DEFAULTS, EVERY_OPTION], ids=["defaults", "every-option"])
def test_every_manifest_follows_the_kubernetes_schema(documents: list[dict[str, Any]]) -> None:
    checked = 0
    for document in documents:
        if document["apiVersion"] != OPERATOR_CRDS:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
            checked += 1
    assert checked >= 12


def test_every_option_turns_on_ingress_tls_and_the_operator_resources() -> None:
    kinds = {d["kind"] for d in EVERY_OPTION}
    assert {"Ingress", "PodMonitor", "PrometheusRule"} <= kinds
    assert not {"Ingress", "PodMonitor", "PrometheusRule"} & {d["kind"] for d in DEFAULTS}
    ingress = find(EVERY_OPTION, "Ingress", "correlate-api")
    assert ingress["spec"]["tls"] == [{"hosts": ["correlate.noc.example.com"], "secretName": "correlate-tls"}]


def test_the_prometheus_rule_carries_the_projects_alert_rules() -> None:
    rule = find(EVERY_OPTION, "PrometheusRule", "correlate")
    assert rule["spec"] == yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    monitor = find(EVERY_OPTION, "PodMonitor", "correlate")
    assert monitor["spec"]["jobLabel"] == "app.kubernetes.io/name", "job=correlate-worker|api, as the rules expect"


def test_the_charts_copies_of_the_topic_script_and_alert_rules_are_the_originals() -> None:
    """Helm reads files inside the chart only: files/ holds copies (cp deploy/create-topics.sh
    deploy/prometheus/alerts.yml deploy/helm/correlate/files/)."""
    assert (CHART / "files" / "create-topics.sh").read_bytes() == (DEPLOY / "create-topics.sh").read_bytes()
    assert (CHART / "files" / "alerts.yml").read_bytes() == (DEPLOY / "prometheus" / "alerts.yml").read_bytes()


@pytest.mark.parametrize("documents", [DEFAULTS, EVERY_OPTION], ids=["defaults", "every-option"])
def test_pods_meet_the_restricted_pod_security_level(documents: list[dict[str, Any]]) -> None:
    for pod in pods(documents):
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert context["readOnlyRootFilesystem"] is True


def test_images_come_from_a_registry_by_version_or_digest_never_latest() -> None:
    default_images = {c["image"] for pod in pods(DEFAULTS) for c in pod["containers"]}
    assert "ghcr.io/correlate/correlate:0.1.0" in default_images
    assert not any(image.endswith(":latest") for image in default_images)
    worker = find(EVERY_OPTION, "Deployment", "correlate-worker")["spec"]["template"]["spec"]["containers"][0]
    assert worker["image"] == "registry.example.com/noc/correlate@sha256:" + "0123456789abcdef" * 4
    assert worker["imagePullPolicy"] == "IfNotPresent"


def test_the_api_replicas_share_one_key_secret_and_have_a_pdb_and_hpa() -> None:
    api = find(EVERY_OPTION, "Deployment", "correlate-api")["spec"]["template"]["spec"]
    (container,) = api["containers"]
    assert "--keys=/etc/correlate/api-keys" in container["args"]
    (volume,) = [v for v in api["volumes"] if v["name"] == "api-keys"]
    keys = find(EVERY_OPTION, "Secret", volume["secret"]["secretName"])["stringData"]
    assert KeyRing({kid: key.encode() for kid, key in keys.items()}).signing_id == "2025-06-01"
    generated = find(DEFAULTS, "Secret", "correlate-api-keys")
    assert len(generated["stringData"]["0-initial"]) == 64
    assert generated["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep", "kept across upgrades"
    assert find(DEFAULTS, "PodDisruptionBudget", "correlate-api")["spec"]["minAvailable"] == 1
    assert find(DEFAULTS, "HorizontalPodAutoscaler", "correlate-api")["spec"]["minReplicas"] == 2


def test_probes_mean_something_for_the_api() -> None:
    (container,) = find(DEFAULTS, "Deployment", "correlate-api")["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v1/health", "503 when the store is gone"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v1/openapi.yaml", "the loop answers, store or not"


def test_probes_mean_something_for_the_workers() -> None:
    (container,) = find(DEFAULTS, "Deployment", "correlate-worker")["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}, "loop, broker, store"
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "metrics"}, "the loop turns"


def test_the_settings_secret_is_a_settings_file_correlate_loads_with_its_webhooks(tmp_path: Path) -> None:
    settings = find(EVERY_OPTION, "Secret", "correlate-settings")["stringData"]["settings.json"]
    path = tmp_path / "settings.json"
    path.write_text(settings)
    config = load_config(path, environ={})
    assert config.settings.min_reporters == 4
    targets = parse_delivery(config.section("delivery"))
    assert targets["sonique"].webhook == "https://hooks.sonique.example/correlate"
    assert json.loads(find(DEFAULTS, "Secret", "correlate-settings")["stringData"]["settings.json"]) == {"delivery": {}}


def test_sasl_and_tls_reach_every_correlate_container_and_the_topic_job() -> None:
    for name in ("correlate-worker", "correlate-api"):
        (container,) = find(EVERY_OPTION, "Deployment", name)["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["CORRELATE_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert env["CORRELATE_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
        assert env["CORRELATE_KAFKA_SASL_PASSWORD_FILE"] == "/etc/correlate/kafka/password"
        assert env["CORRELATE_KAFKA_SSL_CAFILE"] == "/etc/correlate/kafka-tls/ca.crt"
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert {"/etc/correlate/kafka", "/etc/correlate/kafka-tls"} <= mounts
    (job,) = find(EVERY_OPTION, "Job", "correlate-topics")["spec"]["template"]["spec"]["containers"]
    assert {"name": "COMMAND_CONFIG", "value": "/etc/correlate/kafka/client.properties"} in job["env"]
    properties = find(EVERY_OPTION, "Secret", "correlate-kafka")["stringData"]["client.properties"]
    assert "security.protocol=SASL_SSL" in properties and "ScramLoginModule" in properties


def test_workers_scale_up_to_the_input_partitions_and_no_further() -> None:
    hpa = find(EVERY_OPTION, "HorizontalPodAutoscaler", "correlate-worker")
    assert hpa["spec"]["maxReplicas"] == 12 == int(find(EVERY_OPTION, "ConfigMap", "correlate")["data"]["PARTITIONS"])


def test_network_policies_leave_the_workers_no_way_in_but_the_scrape() -> None:
    policy = find(DEFAULTS, "NetworkPolicy", "correlate-worker")
    assert policy["spec"]["ingress"] == [{"ports": [{"port": 9400, "protocol": "TCP"}]}]
    api = find(EVERY_OPTION, "NetworkPolicy", "correlate-api")
    assert api["spec"]["ingress"][0]["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
    ]
