"""The Prometheus alert rules in deploy/prometheus/ pass the real promtool.

`promtool check rules` accepts alerts.yml, `promtool test rules` passes alerts.test.yml, every
alert has a unit test where it fires and one where it must not, and a rule made wrong on purpose
fails those tests. Without promtool the promtool tests skip here and fail under CI=1.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from web_helpers import missing

ROOT = Path(__file__).resolve().parent.parent
RULES_DIR = ROOT / "deploy" / "prometheus"
RULES = RULES_DIR / "alerts.yml"
UNIT_TESTS = RULES_DIR / "alerts.test.yml"
SEVERITIES = {"page", "ticket"}


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        missing("promtool is not installed: apt-get install prometheus")
    return path


def run_promtool(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def output(proc: subprocess.CompletedProcess) -> str:
    return (
        f"promtool exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    )


def load_rules() -> dict:
    return yaml.safe_load(RULES.read_text())


def alerts(doc: dict) -> dict[str, dict]:
    return {
        rule["alert"]: rule for group in doc["groups"] for rule in group["rules"] if "alert" in rule
    }


def seconds(duration: str) -> int:
    """A Prometheus duration ("5m", "4h15m", "90s") in seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    parts = re.findall(r"(\d+)([smhd])", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, (
        f"unsupported duration {duration!r}"
    )
    return sum(int(n) * units[u] for n, u in parts)


ALERT_NAMES = sorted(alerts(load_rules()))


def test_promtool_check_rules():
    proc = run_promtool("check", "rules", str(RULES.relative_to(ROOT)))
    assert proc.returncode == 0, output(proc)
    assert f"SUCCESS: {len(ALERT_NAMES)} rules found" in proc.stdout, output(proc)


def test_promtool_test_rules():
    proc = run_promtool("test", "rules", str(UNIT_TESTS.relative_to(ROOT)))
    assert proc.returncode == 0, output(proc)
    assert "SUCCESS" in proc.stdout, output(proc)


def test_the_rules_are_one_picodiff_group_with_severity_and_annotations():
    doc = load_rules()
    assert [group["name"] for group in doc["groups"]] == ["picodiff"]
    for name, rule in alerts(doc).items():
        assert "for" in rule, f"{name} has no `for`"
        assert rule.get("labels", {}).get("severity") in SEVERITIES, f"{name}: severity"
        annotations = rule.get("annotations", {})
        assert annotations.get("summary") and annotations.get("description"), name
        assert "$value" in annotations["description"], f"{name}: description without $value"


def test_every_alert_has_a_firing_and_a_quiet_unit_test():
    """A new alert without unit tests, or a test of an alert that does not exist, fails here."""
    rules = alerts(load_rules())
    doc = yaml.safe_load(UNIT_TESTS.read_text())
    assert doc["rule_files"] == ["alerts.yml"]
    cases = [case for test in doc["tests"] for case in test.get("alert_rule_test", [])]
    unknown = {case["alertname"] for case in cases} - set(rules)
    assert not unknown, f"unit tests of alerts not in alerts.yml: {sorted(unknown)}"
    for name, rule in rules.items():
        mine = [case for case in cases if case["alertname"] == name]
        firing = [case for case in mine if case.get("exp_alerts")]
        quiet = [case for case in mine if "exp_alerts" in case and case["exp_alerts"] == []]
        assert firing, f"{name}: no unit test where it fires (exp_alerts with labels)"
        assert quiet, f"{name}: no unit test where it must not fire (exp_alerts: [])"
        for case in firing:
            for alert in case["exp_alerts"]:
                assert alert.get("exp_labels", {}).get("severity") == rule["labels"]["severity"]
                assert set(alert.get("exp_annotations", {})) == set(rule["annotations"]), name
        # a quiet case later than `for` shows a healthy series does not fire (not only pending)
        hold = seconds(rule["for"])
        assert any(seconds(case["eval_time"]) >= hold for case in quiet), (
            f"{name}: every exp_alerts: [] case is earlier than its for: {rule['for']}"
        )


def write_rules(directory: Path, doc: dict) -> None:
    (directory / "alerts.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    shutil.copy(UNIT_TESTS, directory / "alerts.test.yml")


def test_the_copied_rules_pass(tmp_path):
    """The copy the tests below break passes as it is: their failures come from the breakage."""
    write_rules(tmp_path, load_rules())
    proc = run_promtool("test", "rules", "alerts.test.yml", cwd=tmp_path)
    assert proc.returncode == 0, output(proc)


def broken_run(tmp_path: Path, changes: dict) -> subprocess.CompletedProcess:
    """`promtool test rules` on a copy of alerts.yml whose named alerts' expressions are changed."""
    doc = load_rules()
    rules = alerts(doc)
    for name, change in changes.items():
        rules[name]["expr"] = change(rules[name]["expr"])
    write_rules(tmp_path, doc)
    return run_promtool("test", "rules", "alerts.test.yml", cwd=tmp_path)


def assert_caught(proc: subprocess.CompletedProcess, names) -> None:
    assert proc.returncode != 0, f"promtool passed broken rules\n{output(proc)}"
    # each failure is that alert's unit test (not a rules file promtool could not load)
    text = proc.stdout + proc.stderr
    uncaught = [name for name in names if f"alertname: {name}," not in text]
    assert not uncaught, f"no unit test failed for {uncaught}\n{output(proc)}"


def threshold(old: str, new: str):
    def change(expr: str) -> str:
        assert old in expr, f"{old!r} not in {expr!r}"
        return expr.replace(old, new, 1)

    return change


@pytest.mark.parametrize(
    ("name", "old", "new"),
    [
        # the queue alert never fires: its firing case fails
        ("PicodiffQueueSaturated", "> 0.9", "> 9"),
        # the failure alert fires on the healthy model's 2% failures: its quiet case fails
        ("PicodiffGenerationFailures", "> 0.05", "> 0.01"),
    ],
)
def test_a_wrong_threshold_fails_promtool(tmp_path, name, old, new):
    assert_caught(broken_run(tmp_path, {name: threshold(old, new)}), [name])


@pytest.mark.parametrize(
    "change",
    [
        # an alert that never fires fails its firing case
        pytest.param(lambda expr: f"({expr}) unless on() vector(1)", id="never-fires"),
        # an alert that always fires (with no labels) fails its quiet case
        pytest.param(lambda expr: f"({expr}) or vector(1)", id="always-fires"),
    ],
)
def test_every_alert_s_unit_tests_catch_a_broken_rule(tmp_path, change):
    proc = broken_run(tmp_path, dict.fromkeys(ALERT_NAMES, change))
    assert_caught(proc, ALERT_NAMES)
