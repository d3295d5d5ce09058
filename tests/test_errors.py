"""One error hierarchy: every exception class in src/pledge is a PledgeError, and its kind
maps to an HTTP status in one place (pledge.web.errors) and to an exit code in one place
(pledge.cli.common)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest
import typer
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from pledge.cli.common import EXIT_CODES, PledgeGroup
from pledge.errors import KINDS, PledgeError, kind_of
from pledge.web import errors as web_errors
from pledge.web.errors import HTTP_STATUS

SRC = Path(__file__).resolve().parents[1] / "src" / "pledge"


def _exception_classes() -> dict[str, type[BaseException]]:
    """Every top-level class in src/pledge that is an exception, by ``module.Name``."""
    found: dict[str, type[BaseException]] = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        names = [n.name for n in ast.parse(path.read_text(encoding="utf-8")).body if isinstance(n, ast.ClassDef)]
        if not names:
            continue
        loaded = importlib.import_module(module)
        for name in names:
            cls = getattr(loaded, name, None)
            if isinstance(cls, type) and issubclass(cls, BaseException):
                found[f"{module}.{name}"] = cls
    return found


def test_every_exception_class_is_a_pledge_error() -> None:
    """Private control-flow exceptions (``_Stop``…) never leave their module and are exempt."""
    classes = _exception_classes()
    assert len(classes) > 30  # the walk found them
    outside = sorted(name for name, cls in classes.items()
                     if not issubclass(cls, PledgeError) and not name.rsplit(".", 1)[1].startswith("_"))
    assert outside == []
    # and each has a kind, so both maps answer for it
    assert all(kind_of(cls.__new__(cls)) is not None for cls in classes.values() if issubclass(cls, PledgeError))


def test_both_maps_cover_every_kind() -> None:
    wanted = {*KINDS, PledgeError}
    assert set(HTTP_STATUS) == wanted
    assert set(EXIT_CODES) == wanted


def test_a_class_that_names_a_kind_first_is_that_kind() -> None:
    from pledge.consent.ledger import UnknownPurpose
    from pledge.rights.requests import RequestNotFound, RequestStateError
    from pledge.rights.verify import VerificationError

    assert HTTP_STATUS[kind_of(RequestNotFound("x")) or PledgeError] == 404
    assert HTTP_STATUS[kind_of(RequestStateError("x")) or PledgeError] == 409
    assert HTTP_STATUS[kind_of(VerificationError("wrong", "x")) or PledgeError] == 403
    assert HTTP_STATUS[kind_of(UnknownPurpose("x")) or PledgeError] == 404
    assert isinstance(UnknownPurpose("x"), KeyError) and isinstance(RequestNotFound("x"), ValueError)


@pytest.mark.parametrize("kind", [*KINDS, PledgeError])
def test_each_kind_becomes_its_status_and_its_exit_code(kind: type[PledgeError]) -> None:
    app = FastAPI()
    web_errors.install(app)

    @app.get("/v1/boom")
    def boom() -> None:
        raise kind("the message says what would be valid")

    @app.get("/page")
    def page() -> None:
        raise kind("the message says what would be valid")

    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/v1/boom")
        assert r.status_code == HTTP_STATUS[kind]
        detail = r.json()["detail"]
        assert (detail == "the message says what would be valid") == (HTTP_STATUS[kind] < 500)
        html = client.get("/page", headers={"Accept": "text/html"})
        assert html.status_code == HTTP_STATUS[kind] and "text/html" in html.headers["content-type"]

    cli = typer.Typer(cls=PledgeGroup)

    @cli.command()
    def fails() -> None:
        raise kind("the message says what would be valid")

    @cli.command()
    def other() -> None:
        pass

    result = CliRunner().invoke(cli, ["fails"])
    assert result.exit_code == EXIT_CODES[kind]
    assert "error:" in result.output and "what would be valid" in result.output


def test_a_rate_limit_keeps_its_retry_after() -> None:
    from pledge.ratelimit import RateLimited

    app = FastAPI()
    web_errors.install(app)

    @app.get("/v1/limited")
    def limited() -> None:
        raise RateLimited("request", "client", 7)

    with TestClient(app) as client:
        r = client.get("/v1/limited")
    assert r.status_code == 429 and r.headers["retry-after"] == "7"
