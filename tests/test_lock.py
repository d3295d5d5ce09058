"""The lock files agree with pyproject.toml (``make lock`` refreshes them).

``requirements/dev.lock`` is what ``make`` installs (hash-checked) and CI tests;
``requirements/base.lock`` is the plain ``pip install privacy-pledge``, at the same versions
(tests/test_wheel.py installs it). A dependency added to pyproject.toml without ``make lock``
fails here, offline, before an install does.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)
#: the lock's target: CPython 3.11 on Linux
ENV = {**default_environment(), "python_version": "3.11", "python_full_version": "3.11.7",
       "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix"}


def pins(name: str) -> dict[str, str]:
    text = (ROOT / "requirements" / name).read_text(encoding="utf-8")
    return {canonicalize_name(n): v for n, v in PIN.findall(text)}


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def unmet(requirements: list[str], pinned: dict[str, str], extra: str = "") -> list[str]:
    problems = []
    for line in requirements:
        req = Requirement(line)
        name = canonicalize_name(req.name)
        if name == canonicalize_name(project()["name"]):
            continue  # the dev extra names the other extras
        if req.marker is not None and not req.marker.evaluate({**ENV, "extra": extra}):
            continue
        if name not in pinned:
            problems.append(f"{line}: not in the lock")
        elif not req.specifier.contains(pinned[name], prereleases=True):
            problems.append(f"{line}: the lock pins {pinned[name]}")
    return problems


def test_dev_lock_holds_every_dependency_and_extra() -> None:
    meta = project()
    wanted = list(meta["dependencies"]) + [r for reqs in meta["optional-dependencies"].values() for r in reqs]
    assert unmet(wanted, pins("dev.lock")) == [], "run make lock"


def test_dev_lock_holds_what_the_editable_install_builds_with() -> None:
    build = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["build-system"]["requires"]
    assert unmet(build, pins("dev.lock")) == [], "run make lock (requirements/build.in)"


def test_base_lock_is_the_base_install_at_the_dev_versions() -> None:
    base, dev = pins("base.lock"), pins("dev.lock")
    assert unmet(project()["dependencies"], base) == [], "run make lock"
    assert {n: v for n, v in base.items() if dev.get(n) != v} == {}, "base.lock and dev.lock disagree: make lock"
    for optional in ("psycopg", "pymysql", "celery", "boto3", "pytest"):
        assert optional not in base, f"{optional} is an extra, not part of the base install"


def test_the_extras_the_guide_names_exist() -> None:
    assert {"postgresql", "mysql", "celery", "redis", "s3", "docs", "dev"} <= set(project()["optional-dependencies"])
