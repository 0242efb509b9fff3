"""A missing browser or npm skips the web tests locally, and fails them under CI=1."""

import pytest
from web_helpers import missing


def test_a_missing_tool_skips_locally(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Chromium is not installed"):
        missing("Chromium is not installed")


@pytest.mark.parametrize("value", ["1", "true"])
def test_a_missing_tool_fails_in_ci(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="CI=1: these tests must run"):
        missing("Chromium is not installed")
