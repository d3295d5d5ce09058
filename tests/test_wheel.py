"""The built package, not the source tree: ``pip install privacy-pledge && pledge demo``.

The sdist is built from a copy of the sources, the wheel from that sdist (``python -m
build``'s own order, so the sdist must carry the examples), and the wheel goes into a fresh
virtual environment that holds only the base install: ``requirements/base.lock`` (hash-checked,
the versions CI tests), then the wheel with ``--no-index``, so a dependency the wheel declares
but the lock lacks fails here rather than downloading. No extra is installed, and the
session's ``PLEDGE_*`` keys are not passed on: ``pledge demo`` runs in an empty folder and
makes everything itself. Measured on the CI machine (2 cores, warm pip cache, other work
running): about 85 s in all — sdist and wheel a few seconds, the fresh venv and base.lock
about a minute, the demo's first start (10,000 generated people) 11 s.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: what the build reads from the checkout (setup.py copies examples/ into the wheel)
BUILD_INPUTS = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE", "src", "examples")
DEMO_START_S = 300

pytestmark = pytest.mark.slow


def _run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None,
         timeout: float = 600) -> subprocess.CompletedProcess[str]:
    res = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=timeout)
    assert res.returncode == 0, f"{' '.join(map(str, args))} exited {res.returncode}:\n{res.stdout}\n{res.stderr}"
    return res


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without the session's keys and settings, nor this venv."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PLEDGE_") and k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env.update(extra)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path

    @property
    def pledge(self) -> Path:
        return self.venv / "bin" / "pledge"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns(".pledge", "*.db", "*.db-*", "__pycache__", "*.egg-info", "platform.db*")
    for name in BUILD_INPUTS:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=ignore)
        else:
            shutil.copy2(path, source / name)
    dist = base / "dist"
    # the venv's locked setuptools builds (no download); sdist first, then the wheel from it
    _run(sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, source, env=_clean_env())
    (wheel,) = dist.glob("privacy_pledge-*.whl")
    venv = base / "venv"
    _run(sys.executable, "-m", "venv", venv)
    pip = venv / "bin" / "pip"
    _run(pip, "install", "--quiet", "--require-hashes", "-r", ROOT / "requirements" / "base.lock", env=_clean_env())
    _run(pip, "install", "--quiet", "--no-index", wheel, env=_clean_env())
    _run(pip, "check", env=_clean_env())
    yield Installed(wheel, venv)


def test_the_wheel_carries_the_examples_and_py_typed(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    assert "pledge/py.typed" in names
    for example in ("omni-one", "onetagger", "onestepai"):
        for part in ("pledge.yaml", "policy.yaml", "dataset.yaml", "PROMISES.md", "README.md"):
            assert f"pledge/examples/{example}/{part}" in names
    assert not any(".pledge/" in n or n.endswith(".db") for n in names)
    metadata = zipfile.ZipFile(installed.wheel).read(
        next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: Apache-2.0" in metadata
    # the licence's text, in the wheel and in the sdist it was built from
    licence = (ROOT / "LICENSE").read_bytes()
    assert b"Apache License" in licence and b"Version 2.0, January 2004" in licence
    assert "License-File: LICENSE" in metadata
    (in_wheel,) = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
    assert zipfile.ZipFile(installed.wheel).read(in_wheel) == licence
    (sdist,) = installed.wheel.parent.glob("privacy_pledge-*.tar.gz")
    with tarfile.open(sdist) as tar:
        member = next(m for m in tar.getmembers() if m.name.count("/") == 1 and m.name.endswith("/LICENSE"))
        text = tar.extractfile(member)
        assert text is not None and text.read() == licence
    base = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line]
    for optional in ("psycopg", "PyMySQL", "celery", "boto3", "pytest"):
        assert not any(optional.lower() in line.lower() for line in base), f"{optional} is in the base install"


def test_the_base_install_is_sqlite_only_and_names_the_missing_extras(installed: Installed,
                                                                     tmp_path: Path) -> None:
    env = _clean_env()
    for module in ("psycopg", "pymysql", "celery", "boto3", "redis"):
        res = subprocess.run([installed.python, "-c", f"import {module}"], capture_output=True, env=env)
        assert res.returncode != 0, f"{module} is installed by the base install"
    pg = subprocess.run([installed.pledge, "datamap", "discover", "--url", "postgresql+psycopg://u@127.0.0.1:9/x"],
                        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert pg.returncode == 1 and "pip install 'privacy-pledge[postgresql]'" in pg.stderr, pg.stderr
    worker = subprocess.run([installed.pledge, "worker"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert worker.returncode == 1 and "pip install 'privacy-pledge[celery]'" in worker.stderr, worker.stderr


def test_pledge_demo_serves_from_an_empty_folder(installed: Installed, tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    port, smtp = _free_port(), _free_port()
    log = (tmp_path / "demo.log").open("w+")
    proc = subprocess.Popen([installed.pledge, "demo", "--port", str(port)], cwd=folder,
                            env=_clean_env(PLEDGE_SMTP_PORT=str(smtp)), stdout=log, stderr=subprocess.STDOUT)
    started = time.monotonic()
    try:
        status = None
        while time.monotonic() - started < DEMO_START_S and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/privacy", timeout=10) as res:
                    status = res.status
                    page = res.read().decode()
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(1)
        log.seek(0)
        output = log.read()
        assert status == 200, f"the demo did not serve /privacy (exit {proc.poll()}):\n{output}"
        assert "<form" in page
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as res:
            assert res.status == 200
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    print(f"pledge demo answered after {time.monotonic() - started:.0f} s")
    state = folder / "pledge-demo" / "omni-one"
    assert (state / "pledge.yaml").is_file() and (state / "platform.db").is_file()
    keys = state / ".pledge" / "keys.json"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    assert (state / ".pledge" / "store.db").is_file()
    assert "pledge-demo/omni-one/pledge.yaml" in output  # the sign-in help names the copied config
    # nothing was written next to the installed package
    site = next((installed.venv / "lib").glob("python3*/site-packages"))
    packaged = site / "pledge" / "examples" / "omni-one"
    assert sorted(p.name for p in packaged.iterdir()) == sorted(p.name for p in (ROOT / "examples" / "omni-one").iterdir()
                                                                if p.suffix in (".yaml", ".md", ".svg"))
