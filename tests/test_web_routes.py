"""Every route of the web app answers its own paths: none is shadowed by a route included
before it. The app includes the JSON API first (#19: routes are matched one by one, in
order); this holds whatever the order is."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from starlette.routing import Match, Route

from pledge.engine import Engine
from pledge.settings import Settings, load_config
from pledge.web.app import create_app
from tests.conftest import EXAMPLES


def _leaves(routes: list[Any]) -> list[Any]:
    """The app's routes in the order they are tried, included routers opened."""
    out: list[Any] = []
    for r in routes:
        inner = getattr(r, "original_router", None)
        out.extend(_leaves(list(inner.routes)) if inner is not None else [r])
    return out


def _first_match(routes: list[Any], scope: dict[str, Any]) -> Any:
    for r in routes:
        if r.matches(scope)[0] == Match.FULL:
            return r
    return None


def test_no_route_is_shadowed_by_one_tried_before_it(tmp_path: Path) -> None:
    settings = Settings(environment="test", database_url=f"sqlite:///{tmp_path / 'store.db'}",
                        platform_url=f"sqlite:///{tmp_path / 'platform.db'}")
    engine = Engine(load_config(EXAMPLES / "omni-one" / "pledge.yaml", settings), settings)
    try:
        leaves = _leaves(list(create_app(engine).router.routes))
    finally:
        engine.close()
    routes = [r for r in leaves if isinstance(r, Route)]  # APIRoute is a Route too
    paths = {r.path for r in routes}
    assert {"/v1/requests/{request_id}/approve", "/privacy", "/admin/login"} <= paths, sorted(paths)
    shadowed = []
    for route in routes:
        path = re.sub(r"\{[^}]+\}", "zz9", route.path)  # a value every path parameter accepts
        for method in sorted(route.methods or {"GET"}):
            scope = {"type": "http", "path": path, "method": method, "root_path": "", "headers": []}
            hit = _first_match(leaves, scope)
            if hit is not route:
                shadowed.append(f"{method} {route.path} -> {getattr(hit, 'path', hit)}")
    assert shadowed == []


def test_an_api_call_goes_to_the_thread_pool_once(tmp_path: Path, monkeypatch: Any) -> None:
    """#19: a dependency that blocks on nothing (the engine, the translator) is a coroutine, so
    an API call crosses to the thread pool only for its handler: a hop there and back each."""
    import anyio.to_thread
    from fastapi.testclient import TestClient

    settings = Settings(environment="test", database_url=f"sqlite:///{tmp_path / 'store.db'}",
                        platform_url=f"sqlite:///{tmp_path / 'platform.db'}")
    engine = Engine(load_config(EXAMPLES / "omni-one" / "pledge.yaml", settings), settings)
    hops: list[str] = []
    real = anyio.to_thread.run_sync

    async def counted(func: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(func, "__name__", repr(func)))
        return await real(func, *args, **kwargs)

    try:
        key = engine.admins.create_api_key("hops", ["requests:read"], actor="test")
        with TestClient(create_app(engine), headers={"Authorization": f"Bearer {key}"}) as client:
            client.get("/v1/requests/no-such-request")  # warm
            monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
            assert client.get("/v1/requests/no-such-request").status_code == 404
            assert len(hops) == 1, hops
            hops.clear()
            assert client.get("/privacy?lang=pl").status_code == 200  # the translator's page too
            assert len(hops) == 1, hops
    finally:
        engine.close()
