"""Property-based run of the requests API against its own OpenAPI: no server errors."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from pledge.devmail import DevMail
from pledge.web.app import create_app
from tests.requests_support import START, Clock, deployment, make_engine, smtp_sink


@pytest.fixture(scope="module")
def sink() -> Iterator[DevMail]:
    with smtp_sink() as s:
        yield s


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory, sink: DevMail) -> Iterator[object]:
    root = tmp_path_factory.mktemp("api")
    cfg = deployment(root, "omni-one", users=10)
    engine = make_engine(cfg, Clock(START), sink.port, database_url=f"sqlite:///{Path(root) / 'store.db'}")
    app = create_app(engine)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    yield schema.include(path_regex=r"^/v1/(requests|art19)")
    engine.close()


def test_requests_api_has_no_server_errors(api_schema: schemathesis.BaseSchema) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10  # every requests route is in the OpenAPI
    seen: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=int(os.environ.get("PLEDGE_FUZZ_EXAMPLES", "12")), deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def no_server_error(case: schemathesis.Case) -> None:
            response = case.call()
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}")

        no_server_error()
        seen.append(operation.label)
    assert "POST /v1/requests" in seen
