"""The package as a user installs it: a wheel, `memory-server` from any folder, its defaults."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from server import ROOT, GunicornServer, request


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv holding the wheel built from this checkout; its `bin/` folder."""
    base = tmp_path_factory.mktemp("package")
    wheels = base / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(wheels), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = wheels.glob("memory_server-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    # The dependencies are this environment's (a test cannot download torch): a plain path
    # entry, so the checkout's editable install (a .pth finder there) is not loaded with it.
    Path(purelib, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--no-deps", "--no-index", str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return venv / "bin"


def _user_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMORY_API_")}
    return {**env, "HOME": str(home), "XDG_DATA_HOME": str(home / "xdg")}


@pytest.mark.slow
def test_the_wheel_holds_the_package_and_its_templates(installed, tmp_path):
    code = (
        "import memory_server, pathlib; p = pathlib.Path(memory_server.__file__).parent; "
        "print(p); print((p / 'templates' / 'api_reference.html').is_file())"
    )
    out = subprocess.run(
        [installed / "python", "-c", code], cwd=tmp_path, check=True, capture_output=True, text=True
    ).stdout.split()
    assert str(ROOT) not in out[0], "imported the checkout instead of the installed wheel"
    assert out[1] == "True"


@pytest.mark.slow
def test_python_dash_m_and_the_console_script_answer_help(installed, tmp_path):
    for command in ([installed / "python", "-m", "memory_server"], [installed / "memory-server"]):
        out = subprocess.run(
            [*command, "--help"], cwd=tmp_path, capture_output=True, text=True, check=True
        ).stdout
        for subcommand in ("serve", "keys", "backup", "stats", "export", "import", "reembed"):
            assert f"  {subcommand} " in out, out


@pytest.mark.slow
def test_keys_create_from_another_folder_uses_the_per_user_data_directory(installed, tmp_path):
    home = tmp_path / "home"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = subprocess.run(
        [installed / "memory-server", "keys", "create", "--tier", "free", "--name", "laptop"],
        cwd=elsewhere, env=_user_env(home), capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stdout.splitlines()[-1].startswith("msk_")
    assert (home / "xdg" / "memory-server" / "memory.db").is_file()
    assert not list(elsewhere.iterdir()), "wrote into the working directory"
    listed = subprocess.run(
        [installed / "memory-server", "keys", "list"],
        cwd=tmp_path, env=_user_env(home), capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "laptop" in listed


@pytest.mark.server
def test_serve_runs_from_any_folder_and_says_where_its_data_is(installed, tmp_path):
    home = tmp_path / "home"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # The model's ONNX export is the checkout's (made once by the suite), not made again.
    cache = str(ROOT / "data" / "models")
    server = GunicornServer(
        None, tmp_path / "serve.log", command=[str(installed / "memory-server"), "serve"],
        cwd=elsewhere, HOME=str(home), XDG_DATA_HOME=str(home / "xdg"),
        MEMORY_API_MODEL_CACHE=cache,
    )  # fmt: skip
    for name in ("MEMORY_API_DB", "MEMORY_API_DATA_DIR"):  # the defaults are under test
        server.env.pop(name, None)
    with server:
        status, _, body = request("GET", f"{server.url}/health")
        assert status == 200 and body["status"] == "ok"
        database = home / "xdg" / "memory-server" / "memory.db"
        assert f"Database {database}; model cache {cache}" in server.log()
        assert "No API keys existed" in server.log()
    assert database.is_file()
