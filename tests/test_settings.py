"""Settings: defaults, environment overrides, clear errors, and the README documents them all."""

from __future__ import annotations

from pathlib import Path

import pytest

from settings import BUNDLED_MODEL, SETTINGS, SettingsError, load_settings, parse_tier_limits

README = Path(__file__).resolve().parent.parent / "README.md"


def test_defaults():
    config = load_settings({})
    assert config["DATABASE"] == "data/memory.db"
    assert config["BIND"] == "127.0.0.1:8000"
    assert config["EMBEDDING_MODEL"] == BUNDLED_MODEL
    assert config["WORKERS"] == 1


def test_default_tier_quotas_are_the_seeds():
    assert load_settings({})["TIER_LIMITS"] == {
        "free": "100/hour",
        "pro": "1000/hour",
        "enterprise": None,
    }
    assert load_settings({})["RATELIMIT_STORAGE"] == "memory://"


def test_tier_quotas_parse():
    assert parse_tier_limits("free=10/minute, pro=unlimited ,enterprise=5000/hour") == {
        "free": "10/minute",
        "pro": None,
        "enterprise": "5000/hour",
    }


@pytest.mark.parametrize(
    "raw",
    [
        "free=100/hour,pro=1000/hour",  # enterprise missing
        "free=100/hour,pro=1000/hour,enterprise=unlimited,gold=1/hour",
        "free=lots,pro=1000/hour,enterprise=unlimited",
        "free 100/hour,pro=1000/hour,enterprise=unlimited",
    ],
)
def test_bad_tier_quotas_name_the_variable(raw):
    with pytest.raises(SettingsError, match="MEMORY_API_TIER_LIMITS"):
        load_settings({"MEMORY_API_TIER_LIMITS": raw})


def test_environment_overrides():
    config = load_settings({"MEMORY_API_DB": "/tmp/x.db", "MEMORY_API_THREADS": "3"})
    assert config["DATABASE"] == "/tmp/x.db" and config["THREADS"] == 3


@pytest.mark.parametrize(
    ("name", "value"),
    [("MEMORY_API_WORKERS", "0"), ("MEMORY_API_THREADS", "many"), ("MEMORY_API_DB", " ")],
)
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(SettingsError, match=name):
        load_settings({name: value})


def test_the_app_uses_the_environment(monkeypatch, tmp_path, embedder):
    from app import create_app

    monkeypatch.setenv("MEMORY_API_DB", str(tmp_path / "env.db"))
    monkeypatch.setenv("MEMORY_API_MAX_BODY_BYTES", "1234")
    app = create_app()
    assert app.config["MAX_CONTENT_LENGTH"] == 1234
    assert (tmp_path / "env.db").exists()
    app.extensions["memory_api"].db.close()


def test_readme_settings_table_documents_every_setting():
    readme = README.read_text()
    for setting in SETTINGS:
        assert f"`{setting.env}`" in readme, f"{setting.env} is missing from the README"
