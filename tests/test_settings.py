"""Settings: defaults, environment overrides, clear errors, and the README documents them all."""

from __future__ import annotations

from pathlib import Path

import pytest

from settings import BUNDLED_MODEL, SETTINGS, SettingsError, load_settings

README = Path(__file__).resolve().parent.parent / "README.md"


def test_defaults():
    config = load_settings({})
    assert config["DATABASE"] == "data/memory.db"
    assert config["BIND"] == "127.0.0.1:8000"
    assert config["EMBEDDING_MODEL"] == BUNDLED_MODEL
    assert config["WORKERS"] == 1


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
