"""Settings: defaults, environment overrides, clear errors, and the configuration doc shows all."""

from __future__ import annotations

from pathlib import Path

import pytest

from memory_server.settings import (
    BUNDLED_MODEL,
    SETTINGS,
    SettingsError,
    default_data_dir,
    load_settings,
    parse_tier_limits,
)
from memory_server.settings_doc import settings_markdown, table_in

CHECKOUT = Path(__file__).resolve().parent.parent
CONFIGURATION_DOC = CHECKOUT / "docs" / "configuration.md"


def test_an_installed_package_keeps_its_data_in_the_per_user_data_directory(tmp_path):
    installed = tmp_path / "site-packages"  # no Makefile beside the package: not a checkout
    assert default_data_dir({"XDG_DATA_HOME": "/srv/xdg"}, installed) == "/srv/xdg/memory-server"
    assert default_data_dir({}, installed) == str(
        Path.home() / ".local" / "share" / "memory-server"
    )


def test_the_database_and_model_cache_follow_the_data_directory(tmp_path):
    config = load_settings({"MEMORY_API_DATA_DIR": str(tmp_path)})
    assert config["DATABASE"] == str(tmp_path / "memory.db")
    assert config["MODEL_CACHE"] == str(tmp_path / "models")
    config = load_settings({"MEMORY_API_DATA_DIR": str(tmp_path), "MEMORY_API_DB": "/x/m.db"})
    assert config["DATABASE"] == "/x/m.db"


def test_defaults():
    # Every setting's default, by value: a new setting fails here until its default is stated.
    # Run from this checkout: its data/ folder, as `make run` always had.
    data = CHECKOUT / "data"
    assert load_settings({}) == {
        "DATA_DIR": str(data),
        "DATABASE": str(data / "memory.db"),
        "MAX_DATABASE_BYTES": None,
        "BIND": "127.0.0.1:8000",
        "TLS_CERT": None,
        "TLS_KEY": None,
        "EMBEDDING_MODEL": BUNDLED_MODEL,
        "EMBEDDING_BACKEND": "onnx",
        "MODEL_CACHE": str(data / "models"),
        "WORKERS": 1,
        "THREADS": 8,
        "CLIENT_TIMEOUT": 15.0,
        "TIER_LIMITS": {"free": "100/hour", "pro": "1000/hour", "enterprise": None},
        "RATELIMIT_STORAGE": "memory://",
        "WEBHOOK_RETRY_SCHEDULE": (5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800, 43200),
        "WEBHOOK_TIMEOUT": 10.0,
        "WEBHOOK_DESTINATION_NETWORKS": (),
        "WEBHOOK_ALLOWED_NETWORKS": (),
        "WEBHOOK_CA_BUNDLE": None,
        "MCP_ALLOWED_HOSTS": ("127.0.0.1", "localhost", "::1"),
        "HISTORY_VERSIONS": 50,
        "CONTEXT_VECTORS": True,
        "EXPIRY_PURGE_SECONDS": 30.0,
        "MAX_CONTENT_LENGTH": 1_048_576,
        "LOG_LEVEL": "info",
    }
    assert BUNDLED_MODEL == "sentence-transformers/all-MiniLM-L6-v2"
    # One Flask config key per variable, and no variable twice.
    assert sorted(s.key for s in SETTINGS) == sorted(set(load_settings({})))
    assert len({s.env for s in SETTINGS}) == len(SETTINGS)


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
    assert load_settings({"MEMORY_API_CONTEXT_VECTORS": " OFF"})["CONTEXT_VECTORS"] is False


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MEMORY_API_WORKERS", "0"),
        ("MEMORY_API_THREADS", "many"),
        ("MEMORY_API_DB", " "),
        ("MEMORY_API_CONTEXT_VECTORS", "yes"),
    ],
)
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(SettingsError, match=name):
        load_settings({name: value})


def test_the_app_uses_the_environment(monkeypatch, tmp_path, embedder, make_app):
    monkeypatch.setenv("MEMORY_API_DB", str(tmp_path / "env.db"))
    monkeypatch.setenv("MEMORY_API_MAX_BODY_BYTES", "1234")
    app = make_app()  # no config: the environment's
    assert app.config["MAX_CONTENT_LENGTH"] == 1234
    assert (tmp_path / "env.db").exists()


def test_the_configuration_doc_holds_the_generated_settings_table():
    # Names, defaults and meanings alike: regenerate with the command the doc gives.
    assert table_in(CONFIGURATION_DOC.read_text()) == settings_markdown()
    for setting in SETTINGS:
        assert f"| `{setting.env}` |" in settings_markdown()
    assert "| `MEMORY_API_DB` | `$MEMORY_API_DATA_DIR/memory.db` |" in settings_markdown()
    assert "| `MEMORY_API_WEBHOOK_TIMEOUT` | `10` |" in settings_markdown()
