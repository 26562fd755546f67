"""The deploy files that cannot run here, checked offline: the compose file against the compose-spec schema,
the Kubernetes manifests against Kubernetes' schemas, and the numbers that must agree across them."""

from __future__ import annotations

import importlib.resources
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from correlate.api.access import keys_path
from correlate.config import load_config
from correlate.notify.delivery import parse_delivery
from correlate.streams.security import kafka_security

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
K8S = DEPLOY / "k8s"
KUBERNETES_VERSION = "1.30.0"  # the oldest minor still supported upstream when these manifests were written
_INTERPOLATION = re.compile(r"\$\{(\w+)(?::?([-?+])([^}]*))?\}")


def interpolate(text: str, environment: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}`` and ``${VAR:+replacement}``, as
    ``docker compose config`` applies them."""

    def value(match: re.Match[str]) -> str:
        name, kind, rest = match.groups()
        if kind == "+":
            return rest if environment.get(name) else ""
        if name in environment:
            return environment[name]
        if kind == "?":
            raise KeyError(f"{name} must be set: {rest}")
        return rest or ""

    return _INTERPOLATION.sub(value, text)


def compose(environment: dict[str, str] | None = None) -> dict[str, Any]:
    text = (DEPLOY / "docker-compose.yml").read_text(encoding="utf-8")
    loaded: dict[str, Any] = yaml.safe_load(interpolate(text, {"GRAFANA_ADMIN_PASSWORD": "x", **(environment or {})}))
    return loaded


def compose_errors(document: dict[str, Any]) -> list[str]:
    schema_file = importlib.resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(document)]


def manifests() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            found += [(path.name, document) for document in yaml.safe_load_all(path.read_text()) if document]
    return found


def kind(name: str) -> dict[str, Any]:
    (document,) = [document for _, document in manifests() if document["kind"] == name]
    return document


def named(kind_name: str, name: str) -> dict[str, Any]:
    (document,) = [d for _, d in manifests() if d["kind"] == kind_name and d["metadata"]["name"] == name]
    return document


# -- docker compose --------------------------------------------------------------------------------------------
def test_compose_file_follows_the_compose_spec() -> None:
    assert compose_errors(compose()) == []


def test_the_schema_check_catches_a_misspelt_key() -> None:
    broken = compose()
    broken["services"]["worker"]["depend_on"] = broken["services"]["worker"].pop("depends_on")
    assert compose_errors(broken), "a misspelt key must fail the check"


def test_compose_refuses_to_start_grafana_without_an_admin_password() -> None:
    text = (DEPLOY / "docker-compose.yml").read_text(encoding="utf-8")
    with pytest.raises(KeyError, match="GRAFANA_ADMIN_PASSWORD"):
        interpolate(text, {})


def test_compose_runs_the_stack_the_noc_needs() -> None:
    services = compose({"WORKERS": "3"})["services"]
    assert {"kafka", "topics", "redis", "worker", "api", "prometheus", "alertmanager", "grafana"} <= set(services)
    assert "KAFKA_PROCESS_ROLES" in services["kafka"]["environment"], "Kafka in KRaft mode, no ZooKeeper"
    assert "zookeeper" not in services
    worker = services["worker"]
    assert worker["command"][:3] == ["worker", "--broker=kafka:9092", "--store=redis://redis:6379/0"]
    assert str(worker["deploy"]["replicas"]) == "3"


def _secret_paths(service: dict[str, Any], sources: dict[str, Any]) -> dict[str, Path]:
    """Where each of a service's Docker secrets appears in its container -> the file on this host it comes from."""
    return {
        f"/run/secrets/{entry['target']}": DEPLOY / sources[entry["source"]]["file"] for entry in service["secrets"]
    }


def test_the_api_and_the_workers_get_the_settings_with_the_webhooks_as_a_secret(tmp_path: Path) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text(
        '[delivery.sonique]\nwebhook = "https://hooks.sonique.example/correlate"\n'
        'secret = "whsec_c29uaXF1ZS1zaGFyZWQtc2VjcmV0LTMyLWJ5dGVzISE="\n'
    )
    document = compose({"CORRELATE_SETTINGS": str(settings)})
    for name in ("worker", "api"):
        service = document["services"][name]
        mounts = _secret_paths(service, document["secrets"])
        (config,) = [arg.split("=", 1)[1] for arg in service["command"] if arg.startswith("--config=")]
        loaded = load_config(mounts[config], environ={})
        targets = parse_delivery(loaded.section("delivery"))
        assert targets["sonique"].webhook == "https://hooks.sonique.example/correlate", name
    stock = compose()["secrets"]["correlate-settings"]["file"]
    assert parse_delivery(load_config(DEPLOY / stock, environ={}).section("delivery")) == {}, "loads, no webhook"


def test_the_api_keeps_its_signing_keys_in_a_volume_or_the_operators_directory() -> None:
    api = compose()["services"]["api"]
    home = Path(api["environment"]["CORRELATE_HOME"])
    keys, made_once = keys_path(home, None, api["environment"])
    assert made_once and not any(arg.startswith("--keys") for arg in api["command"])
    assert f"api-keys:{keys}" in api["volumes"], "a named volume: the first key survives re-creation"
    assert "api-keys" in compose()["volumes"]
    own = compose({"CORRELATE_API_KEYS_DIR": "/srv/correlate/keys"})["services"]["api"]
    assert f"/srv/correlate/keys:{keys}" in own["volumes"]
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert f"install -d -o correlate -g correlate -m 0700 {keys}" in dockerfile, "writable by the service user"


def test_the_api_and_the_workers_join_a_secured_kafka_with_credentials_from_files(tmp_path: Path) -> None:
    password, ca = tmp_path / "password", tmp_path / "ca.pem"
    password.write_text("s3cret\n")
    ca.write_text("")
    secured = {
        "KAFKA_BOOTSTRAP": "b-1.msk.example:9096",
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFKA_SASL_USERNAME": "correlate",
        "KAFKA_SASL_PASSWORD_FILE": str(password),
        "KAFKA_SSL_CAFILE": str(ca),
    }
    document = compose(secured)
    for name in ("worker", "api"):
        service = document["services"][name]
        assert "--broker=b-1.msk.example:9096" in service["command"]
        mounts = _secret_paths(service, document["secrets"])
        environment = {  # compose interpolates after parsing: an empty ${VAR:-} is "", never null
            key: str(mounts[value]) if str(value).startswith("/run/secrets/") else (value or "")
            for key, value in service["environment"].items()
        }
        security = kafka_security(environment)
        assert (security.protocol, security.sasl_mechanism, security.username) == (
            "SASL_SSL",
            "SCRAM-SHA-512",
            "correlate",
        )
        assert security.password == "s3cret" and security.cafile == str(ca), name
    plain = kafka_security({k: v or "" for k, v in compose()["services"]["worker"]["environment"].items()})
    assert plain.protocol == "PLAINTEXT" and plain.password is None, "the stock stack's own Kafka: no credentials"


def test_compose_publishes_ports_on_loopback_only() -> None:
    for name, service in compose()["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond this host"


def test_every_file_compose_mounts_or_builds_from_exists() -> None:
    document = compose()
    services = document["services"]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name} mounts {source}, which does not exist"
    for name, secret in document["secrets"].items():
        assert (DEPLOY / secret["file"]).is_file(), f"secret {name} is {secret['file']}, which does not exist"
    build = services["worker"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).exists()


def test_prometheus_scrapes_the_ports_the_workers_and_api_serve() -> None:
    services = compose()["services"]
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    (worker_sd,) = jobs["correlate-worker"]["dns_sd_configs"]
    assert worker_sd["names"] == ["worker"] and f"--metrics-port={worker_sd['port']}" in services["worker"]["command"]
    (api_target,) = jobs["correlate-api"]["static_configs"][0]["targets"]
    host, port = api_target.split(":")
    assert host == "api" and f"--metrics-port={port}" in services["api"]["command"]
    (alertmanager,) = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert alertmanager.split(":")[0] in services


def test_grafana_finds_the_dashboards_where_provisioning_looks() -> None:
    root = DEPLOY.parent
    provider = yaml.safe_load((root / "grafana/provisioning/dashboards/correlate.yml").read_text())["providers"][0]
    mounts = dict(volume.split(":")[:2] for volume in compose()["services"]["grafana"]["volumes"])
    assert mounts["../grafana/dashboards"] == provider["options"]["path"]
    assert list((root / "grafana" / "dashboards").glob("*.json"))


# -- Kubernetes ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "document"), manifests(), ids=lambda item: str(item) if isinstance(item, str) else "")
def test_manifest_follows_the_kubernetes_schema(name: str, document: dict[str, Any]) -> None:
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_the_kubernetes_check_catches_a_misspelt_field() -> None:
    broken = json.loads(json.dumps(named("Deployment", "correlate-worker")))
    broken["spec"]["replica"] = 3
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_probes_ask_the_loop_not_the_metrics_thread() -> None:
    (worker,) = named("Deployment", "correlate-worker")["spec"]["template"]["spec"]["containers"]
    assert worker["readinessProbe"]["httpGet"]["path"] == "/readyz", "loop turning, broker and store reachable"
    assert worker["livenessProbe"]["httpGet"]["path"] == "/livez", "loop turning"
    (api,) = named("Deployment", "correlate-api")["spec"]["template"]["spec"]["containers"]
    assert api["readinessProbe"]["httpGet"]["path"] == "/v1/health", "503 when the store is gone"


def test_kustomization_lists_every_manifest() -> None:
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def test_workers_scale_up_to_the_input_partitions_and_no_further() -> None:
    partitions = int(named("ConfigMap", "correlate")["data"]["PARTITIONS"])
    hpa = kind("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "correlate-worker"
    assert hpa["spec"]["maxReplicas"] == partitions
    assert hpa["spec"]["minReplicas"] <= partitions
    compose_default = re.search(
        r"PARTITIONS: \$\{CONTACT_PARTITIONS:-(\d+)\}", (DEPLOY / "docker-compose.yml").read_text()
    )
    assert compose_default is not None and int(compose_default.group(1)) == partitions


def test_the_topic_job_runs_the_same_script_as_compose() -> None:
    script_map = named("ConfigMap", "correlate-topics-script")
    assert script_map["data"]["create-topics.sh"] == (DEPLOY / "create-topics.sh").read_text(encoding="utf-8")
    job = kind("Job")
    assert job["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"] == "correlate-topics-script"


def test_the_api_service_selects_the_api_pods() -> None:
    service, api = kind("Service"), named("Deployment", "correlate-api")
    labels = api["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()


def test_the_production_topic_script_creates_what_the_workers_expect() -> None:
    """deploy/create-topics.sh (Apache Kafka's kafka-topics.sh) and correlate/topics.py must agree: the workers
    would create a missing topic, but with the broker's defaults, not the retention the detector relies on."""
    from correlate.topics import pipeline_topics

    script = (DEPLOY / "create-topics.sh").read_text(encoding="utf-8")
    created = {}
    for line in script.splitlines():
        words = line.split("#")[0].split()
        if len(words) >= 3 and words[0] == "create":
            partitions = "input" if words[2] == '"$PARTITIONS"' else int(words[2])
            created[words[1]] = (partitions, dict(word.split("=", 1) for word in words[3:]))
    expected = {}
    for spec in pipeline_topics(["contacts"], input_partitions=8):
        partitions = "input" if spec.partitions == 8 else spec.partitions
        expected[spec.name] = (partitions, dict(spec.config))
    assert created == expected


def test_the_alertmanager_config_is_one_alertmanager_accepts() -> None:
    """amtool (Debian's prometheus-alertmanager) checks the routes: one page per incident, at its severity."""
    import subprocess

    config = Path(__file__).parents[1] / "deploy" / "alertmanager" / "alertmanager.yml"
    checked = subprocess.run(["amtool", "check-config", str(config)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    routes = yaml.safe_load(config.read_text())["route"]["routes"]
    per_incident = [r for r in routes if 'alertname="CorrelateIncident"' in r["matchers"]]
    assert per_incident and all(r["group_by"] == ["incident_id"] for r in per_incident)
