"""deploy/monitoring: the alert rules and the Grafana dashboard, over metrics the code exports.

The rules are checked and unit-tested (alerts_test.yaml) with promtool when it is installed
(Debian: the ``prometheus`` package); without it, their structure is checked here. Either way,
every metric the rules and the dashboard name must be one that
services/common/prometheus_metrics.py or the audit monitor (services/audit_monitor.py) exports.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from services.audit_monitor import MONITOR_METRICS
from services.common.prometheus_metrics import EXPORTED

MONITORING = Path(__file__).resolve().parents[1] / "deploy" / "monitoring"
RULES = MONITORING / "alerts.yaml"
RULES_TEST = MONITORING / "alerts_test.yaml"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "yihao.json"
DURATION = re.compile(r"^\d+[smhd]$")
METRIC = re.compile(r"\byihao_[a-z0-9_]+\b")


def _rules() -> list[dict]:
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in doc["groups"] for rule in group["rules"]]


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [t["expr"] for p in dashboard["panels"] for t in p["targets"]]


def _exported_series() -> set[str]:
    series = set(EXPORTED) | set(MONITOR_METRICS)
    for name in EXPORTED:  # a histogram's series
        series |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return series


def _promtool(*args: str) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (apt-get install prometheus); structure checked")
    run = subprocess.run([promtool, *args], capture_output=True, text=True, cwd=MONITORING)
    assert run.returncode == 0, run.stdout + run.stderr


def test_promtool_accepts_the_rules():
    _promtool("check", "rules", str(RULES))


def test_the_rules_fire_when_they_should_and_not_otherwise():
    """alerts_test.yaml: error rate (callers' errors not counted), calendar, stale head, a log
    queue not draining, overdue assistance, the audit monitor's staleness and inconsistency
    rules."""
    _promtool("test", "rules", str(RULES_TEST))


def test_the_rules_are_well_formed():
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    assert [g["name"] for g in doc["groups"]] == ["yihao"]
    names = [r["alert"] for r in _rules()]
    assert len(names) == len(set(names))
    for rule in _rules():
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert isinstance(rule["expr"], str) and METRIC.search(rule["expr"])
        assert rule["expr"].count("(") == rule["expr"].count(")"), rule["alert"]
        assert DURATION.match(rule.get("for", "0s")), rule["alert"]
        assert rule["labels"]["severity"] in {"page", "ticket"}
        assert rule["annotations"]["summary"]


def test_the_rules_cover_what_operations_needs():
    exprs = {r["alert"]: r["expr"] for r in _rules()}
    assert "yihao_rpc_handled_total" in exprs["YihaoRpcErrorRate"]
    assert "histogram_quantile(0.99" in exprs["YihaoRpcLatencyP99"]
    assert "yihao_assistance_requests_overdue" in exprs["YihaoAssistanceOverdue"]
    assert "yihao_audit_signed_head_age_seconds" in exprs["YihaoSignedTreeHeadStale"]
    assert "yihao_audit_queue_oldest_age_seconds" in exprs["YihaoAuditQueueNotDraining"]
    assert "yihao_calendar_days_ahead" in exprs["YihaoCalendarNextYearNotConfigured"]
    assert "< 60" in exprs["YihaoCalendarNextYearNotConfigured"]
    assert "yihao_audit_monitor" in exprs["YihaoAuditMonitorFailing"]
    assert 'kind="inconsistent"' in exprs["YihaoAuditLogInconsistent"]
    assert "yihao_log_behind_trusted_head" in exprs["YihaoLogBehindTrustedHead"]


def test_every_metric_named_is_one_the_code_exports():
    exported = _exported_series()
    named = {
        m
        for expr in [r["expr"] for r in _rules()] + _dashboard_exprs()
        for m in METRIC.findall(expr)
    }
    assert named <= exported, named - exported


def test_the_dashboard_is_grafana_json_over_the_provisioned_source():
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)) and dashboard["uid"]
    source = yaml.safe_load(
        (MONITORING / "grafana" / "provisioning" / "datasources" / "prometheus.yaml").read_text()
    )["datasources"][0]["uid"]
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == source
        assert panel["targets"], panel["title"]
    shown = {m for e in _dashboard_exprs() for m in METRIC.findall(e)}
    # Every exported metric is on the dashboard (as itself or as a histogram's series).
    for name in EXPORTED:
        assert any(s == name or s.startswith(name + "_") for s in shown), name
