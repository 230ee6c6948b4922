"""The deployment files (deploy/) agree with the product.

Every variable given to a Yihao container (compose.yaml, deploy/k8s/) must be one that
services/common/config.py reads, so a typo fails here rather than being ignored in
production; the required ones must be set; ConfigMap and Secret references must resolve;
shutdown must leave the server its drain period; and ``load_settings`` must accept what each
container gets. Containers of other images (PostgreSQL, Redis, Envoy) are not checked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.common.config import ENVIRONMENT, KNOWN_SERVICES, load_settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
KEY_RING = ("YIHAO_MASTER_KEYS", "YIHAO_MASTER_KEY_FILE")
SERVER_REQUIRED = (
    "DATABASE_URL",
    "YIHAO_SERVICES",
    "YIHAO_LISTEN",
    "YIHAO_TLS_CA",
    "YIHAO_TLS_CERT",
    "YIHAO_TLS_KEY",
)
MIGRATION_REQUIRED = ("DATABASE_URL",)
#: Settings that name files the container must be given.
TLS_FILE_SETTINGS = ("YIHAO_TLS_CA", "YIHAO_TLS_CERT", "YIHAO_TLS_KEY")
FILE_SETTINGS = (
    *TLS_FILE_SETTINGS,
    "YIHAO_MASTER_KEY_FILE",
    "YIHAO_CALENDAR_FILE",
)
#: Stand-ins for values that come from a Secret (the templates hold placeholders).
DUMMY_SECRETS = {
    "DATABASE_URL": "postgresql+psycopg://yihao:secret@postgres:5432/yihao",
    "REDIS_URL": "redis://redis:6379/0",
    "YIHAO_MASTER_KEYS": json.dumps(
        {"current": "k1", "keys": {"k1": "A" * 43 + "="}, "index_key": "B" * 43 + "="}
    ),
}


@dataclass
class Container:
    """One Yihao container of a deployment, with its environment resolved."""

    where: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    from_secret: set[str] = field(default_factory=set)
    #: Absolute paths of the files the container is given (Secrets, ConfigMaps).
    files: set[str] = field(default_factory=set)
    #: Seconds between SIGTERM (after any preStop pause) and SIGKILL.
    stop_seconds: float | None = None
    listen_ports: set[int] = field(default_factory=set)

    @property
    def is_migration(self) -> bool:
        return "upgrade" in self.command

    @property
    def is_monitor(self) -> bool:
        """The audit monitor: a client of the servers (``yihao audit monitor``)."""
        return self.command[-1:] != ["upgrade"] and "monitor" in self.command

    def settings_env(self) -> dict[str, str]:
        """The environment with values from Secrets replaced by stand-ins."""
        return {
            name: DUMMY_SECRETS.get(name, "dummy") if name in self.from_secret else value
            for name, value in self.env.items()
        }


def _is_yihao_image(image: str) -> bool:
    return image.rsplit(":", 1)[0].rsplit("/", 1)[-1] == "yihao"


# --- Docker Compose ----------------------------------------------------------------------------

_VARIABLE = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)")


def _interpolate(value: str, problems: list[str], where: str) -> str:
    """Compose's ${VAR:-default}, as on a machine where VAR is not set."""

    def default(match: re.Match[str]) -> str:
        if match.group(2) is None:
            problems.append(f"{where}: ${{{match.group(1)}}} has no default")
            return ""
        return match.group(2)

    return _VARIABLE.sub(default, value).replace("$$", "$")


def _duration(text: str) -> float:
    units = {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    parts = _DURATION.findall(text)
    assert parts and "".join(n + u for n, u in parts) == text, f"bad duration {text!r}"
    return sum(float(n) * units[u] for n, u in parts)


def _compose_env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {name: "" if value is None else str(value) for name, value in env.items()}


def load_compose() -> tuple[dict[str, Any], list[Container], list[str]]:
    doc = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    containers: list[Container] = []
    problems: list[str] = []
    defined_secrets = set(doc.get("secrets") or {})
    for name, service in doc["services"].items():
        if not _is_yihao_image(service.get("image", "")):
            continue
        where = f"compose.yaml: {name}"
        if "env_file" in service:
            problems.append(f"{where}: env_file hides settings from this test; use environment")
        command = service.get("command") or ["python", "-m", "services.server"]
        container = Container(where, command if isinstance(command, list) else command.split())
        container.env = {
            key: _interpolate(value, problems, where)
            for key, value in _compose_env(service).items()
        }
        for secret in service.get("secrets") or []:
            secret_name = secret if isinstance(secret, str) else secret["source"]
            if secret_name not in defined_secrets:
                problems.append(f"{where}: secret {secret_name!r} is not defined")
            container.files.add(f"/run/secrets/{secret_name}")
        container.stop_seconds = _duration(service.get("stop_grace_period", "10s"))
        containers.append(container)
    return doc, containers, problems


# --- Kubernetes --------------------------------------------------------------------------------


def load_k8s_documents() -> list[dict[str, Any]]:
    docs = []
    for path in sorted((DEPLOY / "k8s").rglob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    return docs


def _key(doc: dict[str, Any]) -> tuple[str, str]:
    meta = doc["metadata"]
    return meta.get("namespace", "default"), meta["name"]


def _pod_specs(docs: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for doc in docs:
        spec = doc.get("spec") or {}
        if doc["kind"] == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        if "template" in spec and doc["kind"] in {
            "Deployment",
            "StatefulSet",
            "DaemonSet",
            "Job",
            "CronJob",
        }:
            yield doc, spec["template"]["spec"]


def _pre_stop_seconds(container: dict[str, Any]) -> float:
    pre_stop = (container.get("lifecycle") or {}).get("preStop") or {}
    if "sleep" in pre_stop:
        return float(pre_stop["sleep"]["seconds"])
    command = (pre_stop.get("exec") or {}).get("command") or []
    assert not command or command[0] == "sleep", f"unexpected preStop {command}"
    return float(command[1]) if command else 0.0


def _mounted_files(pod: dict[str, Any], container: dict[str, Any], data: Any) -> set[str]:
    """Absolute paths of the files that Secret and ConfigMap volumes put in the container."""
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    files = set()
    for mount in container.get("volumeMounts") or []:
        volume = volumes.get(mount["name"], {})
        if "secret" in volume:
            keys = data("Secret", volume["secret"]["secretName"])
        elif "configMap" in volume:
            keys = data("ConfigMap", volume["configMap"]["name"])
        else:
            continue
        for key in keys or {}:
            files.add(f"{mount['mountPath'].rstrip('/')}/{key}")
    return files


def load_k8s() -> tuple[list[dict[str, Any]], list[Container], list[str]]:
    docs = load_k8s_documents()
    objects: dict[tuple[str, str, str], dict[str, str]] = {}
    for doc in docs:
        if doc["kind"] in {"ConfigMap", "Secret"}:
            content = {**(doc.get("data") or {}), **(doc.get("stringData") or {})}
            objects[(doc["kind"], *_key(doc))] = {k: str(v) for k, v in content.items()}
    containers: list[Container] = []
    problems: list[str] = []
    for workload, pod in _pod_specs(docs):
        namespace = _key(workload)[0]

        def data(kind: str, name: str, namespace: str = namespace) -> dict[str, str] | None:
            return objects.get((kind, namespace, name))

        for spec in pod.get("initContainers", []) + pod["containers"]:
            if not _is_yihao_image(spec["image"]):
                continue
            where = f"k8s {workload['kind']}/{workload['metadata']['name']} {spec['name']}"
            container = Container(where, spec.get("command", []) + spec.get("args", []))
            _resolve_env(container, spec, data, problems)
            container.files = _mounted_files(pod, spec, data)
            grace = pod.get("terminationGracePeriodSeconds", 30)
            container.stop_seconds = grace - _pre_stop_seconds(spec)
            container.listen_ports = {
                p["containerPort"] for p in spec.get("ports", []) if p.get("name") == "grpc"
            }
            containers.append(container)
    return docs, containers, problems


def _resolve_env(
    container: Container, spec: dict[str, Any], data: Any, problems: list[str]
) -> None:
    """envFrom first, then env (which overrides it), as the kubelet does."""
    kinds = {"configMapRef": "ConfigMap", "secretRef": "Secret"}
    for source in spec.get("envFrom") or []:
        ref = next(r for r in kinds if r in source)
        content = data(kinds[ref], source[ref]["name"])
        if content is None:
            problems.append(f"{container.where}: no {kinds[ref]} {source[ref]['name']!r}")
            continue
        for key, value in content.items():
            name = source.get("prefix", "") + key
            container.env[name] = value
            if ref == "secretRef":
                container.from_secret.add(name)
    key_refs = {"configMapKeyRef": "ConfigMap", "secretKeyRef": "Secret"}
    for item in spec.get("env") or []:
        name = item["name"]
        container.from_secret.discard(name)
        if "value" in item:
            container.env[name] = str(item["value"])
            continue
        value_from = item.get("valueFrom") or {}
        key_ref = next((r for r in key_refs if r in value_from), None)
        if key_ref is None:
            problems.append(f"{container.where}: {name} comes from {value_from}, not checked")
            continue
        target = value_from[key_ref]
        content = data(key_refs[key_ref], target["name"])
        if content is None or target["key"] not in content:
            problems.append(
                f"{container.where}: {name} refers to {key_refs[key_ref]} "
                f"{target['name']!r} key {target['key']!r}, which does not exist"
            )
            continue
        container.env[name] = content[target["key"]]
        if key_ref == "secretKeyRef":
            container.from_secret.add(name)


COMPOSE, COMPOSE_CONTAINERS, COMPOSE_PROBLEMS = load_compose()
K8S_DOCS, K8S_CONTAINERS, K8S_PROBLEMS = load_k8s()
CONTAINERS = COMPOSE_CONTAINERS + K8S_CONTAINERS
SERVERS = [c for c in CONTAINERS if not (c.is_migration or c.is_monitor)]
PROCESSES = [c for c in CONTAINERS if not c.is_monitor]
each_container = pytest.mark.parametrize("container", CONTAINERS, ids=lambda c: c.where)
#: The servers and the migration: what reads the server settings.
each_process = pytest.mark.parametrize("container", PROCESSES, ids=lambda c: c.where)
each_server = pytest.mark.parametrize("container", SERVERS, ids=lambda c: c.where)


# --- tests -------------------------------------------------------------------------------------


@pytest.mark.parametrize("containers", [COMPOSE_CONTAINERS, K8S_CONTAINERS], ids=["compose", "k8s"])
def test_each_deployment_runs_every_service_and_the_migration(containers):
    hosted = {
        name.strip()
        for c in containers
        if not (c.is_migration or c.is_monitor)
        for name in c.env.get("YIHAO_SERVICES", "").split(",")
    }
    assert hosted == set(KNOWN_SERVICES)
    assert sum(c.is_migration for c in containers) == 1


def test_every_reference_resolves():
    assert COMPOSE_PROBLEMS + K8S_PROBLEMS == []


@each_container
def test_every_variable_is_one_the_product_reads(container):
    unknown = sorted(set(container.env) - set(ENVIRONMENT))
    assert unknown == [], f"not in services.common.config.ENVIRONMENT: {unknown}"


@each_process
def test_required_variables_are_set(container):
    required = MIGRATION_REQUIRED if container.is_migration else SERVER_REQUIRED
    missing = [name for name in required if not container.env.get(name)]
    assert missing == []
    assert any(container.env.get(name) for name in KEY_RING), f"one of {KEY_RING} is needed"


@each_server
def test_hosted_services_are_known(container):
    names = [name.strip() for name in container.env["YIHAO_SERVICES"].split(",")]
    assert names and set(names) <= set(KNOWN_SERVICES)


@each_process
def test_load_settings_accepts_the_environment(container):
    settings = load_settings(container.settings_env())
    if not container.is_migration:
        assert settings.listen == container.env["YIHAO_LISTEN"]
        assert not settings.is_sqlite, "every process of a deployment must share the database"
        assert settings.redis_url, "rate limits are shared between processes through Redis"


@each_server
def test_shutdown_waits_longer_than_the_drain(container):
    grace = load_settings(container.settings_env()).grace_seconds
    assert container.stop_seconds is not None
    assert container.stop_seconds > grace, (
        f"SIGKILL comes {container.stop_seconds:g} s after SIGTERM, "
        f"but YIHAO_GRACE_SECONDS is {grace:g}"
    )


def _named_files(container: Container) -> list[str]:
    return [name for name in FILE_SETTINGS if container.env.get(name)]


#: Containers whose settings name a file (the k8s migration Job takes its keys from a Secret).
FILE_USERS = [c for c in CONTAINERS if _named_files(c)]


def test_every_server_names_its_tls_files():
    # What the next test checks can never be nothing: every server names its TLS files.
    assert SERVERS
    for container in SERVERS:
        missing = sorted(set(TLS_FILE_SETTINGS) - set(_named_files(container)))
        assert not missing, f"{container.where}: names no {missing}"


@pytest.mark.parametrize("container", FILE_USERS, ids=lambda c: c.where)
def test_files_named_by_settings_are_provided(container):
    named = _named_files(container)
    assert named, f"{container.where}: names no file; the test would check nothing"
    unprovided = [name for name in named if container.env[name] not in container.files]
    assert not unprovided, f"{container.where}: nothing provides the file of {unprovided}"


@pytest.mark.parametrize("container", K8S_CONTAINERS, ids=lambda c: c.where)
def test_k8s_grpc_port_is_the_listening_port(container):
    if not (container.is_migration or container.is_monitor):
        port = int(container.env["YIHAO_LISTEN"].rsplit(":", 1)[1])
        assert container.listen_ports == {port}


@pytest.mark.parametrize("containers", [COMPOSE_CONTAINERS, K8S_CONTAINERS], ids=["compose", "k8s"])
def test_each_deployment_runs_the_audit_monitor(containers):
    """One monitor, continuous, with its own state and its metrics served, and a command line
    the real parser accepts."""
    from clients.cli import build_parser

    monitors = [c for c in containers if c.is_monitor]
    assert len(monitors) == 1
    command = monitors[0].command
    assert command[0] == "yihao"
    args = build_parser().parse_args(command[1:])
    assert (args.command, args.subcommand) == ("audit", "monitor")
    assert args.every and args.keep_reporting and args.metrics_listen
    assert str(args.state).startswith("/monitor/state")
    assert args.as_ == "supervision"
    assert not (set(monitors[0].env) - set(ENVIRONMENT))
    assert "DATABASE_URL" not in monitors[0].env, "the monitor never reads the database"


def test_k8s_secret_templates_hold_only_placeholders():
    for doc in K8S_DOCS:
        if doc["kind"] == "Secret":
            values = {**(doc.get("data") or {}), **(doc.get("stringData") or {})}
            real = [k for k, v in values.items() if "REPLACE_ME" not in str(v)]
            assert real == [], f"Secret {doc['metadata']['name']}: {real} look like real values"


def test_k8s_selectors_and_targets_match_deployments():
    deployments = {_key(d): d for d in K8S_DOCS if d["kind"] == "Deployment"}
    for name, deployment in deployments.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items(), name
    for doc in K8S_DOCS:
        if doc["kind"] in {"Service", "PodDisruptionBudget"}:
            selector = doc["spec"]["selector"]
            selector = selector.get("matchLabels", selector)
            matched = [
                key
                for key, d in deployments.items()
                if key[0] == _key(doc)[0]
                and selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
            ]
            assert len(matched) == 1, f"{doc['kind']} {doc['metadata']['name']}: {matched}"
        if doc["kind"] == "HorizontalPodAutoscaler":
            target = (_key(doc)[0], doc["spec"]["scaleTargetRef"]["name"])
            assert target in deployments
            assert "replicas" not in deployments[target]["spec"], "the autoscaler owns replicas"


def test_envoy_routes_each_port_to_a_yihao_server():
    envoy = yaml.safe_load((DEPLOY / "envoy.yaml").read_text(encoding="utf-8"))
    servers = {
        name: service
        for name, service in COMPOSE["services"].items()
        if _is_yihao_image(service.get("image", "")) and "YIHAO_SERVICES" in _compose_env(service)
    }
    targets = {}
    for cluster in envoy["static_resources"]["clusters"]:
        for group in cluster["load_assignment"]["endpoints"]:
            for endpoint in group["lb_endpoints"]:
                address = endpoint["endpoint"]["address"]["socket_address"]
                listen = _compose_env(servers[address["address"]])["YIHAO_LISTEN"]
                assert address["port_value"] == int(listen.rsplit(":", 1)[1])
                targets[cluster["name"]] = address["address"]
    assert sorted(targets.values()) == sorted(servers)
    published = {int(p.rsplit(":", 2)[-1]) for p in COMPOSE["services"]["envoy"]["ports"]}
    for listener in envoy["static_resources"]["listeners"]:
        assert listener["address"]["socket_address"]["port_value"] in published
        for chain in listener["filter_chains"]:
            for network_filter in chain["filters"]:
                # Pass-through only: terminating TLS here would lose the caller's identity.
                assert network_filter["name"] == "envoy.filters.network.tcp_proxy"
                assert network_filter["typed_config"]["cluster"] in targets
            assert "transport_socket" not in chain
