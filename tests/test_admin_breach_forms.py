"""The console's breach forms (#17): register, assess, record an authority phase, see the
affected people and tell them — with CSRF, roles, inline validation and duplicate sends."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.web_support import Site, csrf_of, make_platform, site


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_platform(tmp_path_factory.mktemp("admin-breach") / "omni-one", users=40)


@pytest.fixture
def s(template: Path, tmp_path: Path) -> Iterator[Site]:
    with site(template, tmp_path / "site") as one:
        yield one


def signed_in(s: Site, role: str) -> object:
    client = s.new_client()
    s.clock.advance(seconds=31)
    assert s.login(client, role).status_code == 303
    return client


GOOD = {"title": "Chat export bucket was public", "description": "Two weeks open.", "aware_at": "2026-03-01T10:00",
        "window_from": "2024-01-01", "window_to": "2026-02-28", "time_field": "created_at",
        "collections": ["main.messages"], "fields": ["main.messages.content"]}


def test_register_a_breach_with_inline_errors_and_once_only(s: Site) -> None:
    officer = signed_in(s, "privacy_officer")
    form = officer.get("/admin/breaches/new?lang=en")
    assert form.status_code == 200 and "main.messages" in form.text.replace("<wbr>", "")
    csrf = csrf_of(form.text)
    bad = officer.post("/admin/breaches/new", data={"csrf": csrf, "title": "", "aware_at": "2030-01-01T00:00",
                                                    "window_from": "2026-02-01", "window_to": "2025-01-01",
                                                    "collections": ["main.nope"], "fields": ["main.users.email"],
                                                    "time_field": "x; drop table"})
    assert bad.status_code == 422
    for words in ("Say in one line what happened.", "This is in the future.", "The window ends before it starts.",
                  "Tick collections from the list only.", "Tick fields only of the collections you chose.",
                  "Choose the column from the list."):
        assert words in bad.text, words
    assert s.engine.breaches.all() == []
    assert officer.post("/admin/breaches/new", data=GOOD).status_code == 403  # no CSRF
    made = officer.post("/admin/breaches/new", data={"csrf": csrf, **GOOD}, follow_redirects=False)
    assert made.status_code == 303 and made.headers["location"].endswith("?done=opened")
    again = officer.post("/admin/breaches/new", data={"csrf": csrf, **GOOD}, follow_redirects=False)
    assert again.headers["location"] == made.headers["location"].replace("opened", "exists")
    [breach] = s.engine.breaches.all()
    assert breach.collections == ["main.messages"] and breach.fields == ["main.messages.content"]
    assert breach.people_count > 0 and breach.created_by.startswith("admin:")


def test_assess_report_and_tell_the_people(s: Site) -> None:
    officer = signed_in(s, "owner")
    csrf = csrf_of(officer.get("/admin/breaches/new").text)
    officer.post("/admin/breaches/new", data={"csrf": csrf, **GOOD})
    [breach] = s.engine.breaches.all()
    page = officer.get(f"/admin/breaches/{breach.id}?lang=en").text
    seen = re.search(r'name="seen" value="(\d+)"', page).group(1)  # type: ignore[union-attr]
    bad = officer.post(f"/admin/breaches/{breach.id}/assess", data={"csrf": csrf, "seen": seen,
                                                                    "likelihood": "huge", "severity": ""})
    assert bad.status_code == 422 and "Choose how likely harm" in bad.text and "Choose how serious" in bad.text
    # a phase before any assessment is refused inline
    early = officer.post(f"/admin/breaches/{breach.id}/report", data={"csrf": csrf, "seen": seen, "phase": "initial"})
    assert early.status_code == 422 and "Assess the breach first" in early.text
    ok = officer.post(f"/admin/breaches/{breach.id}/assess", data={
        "csrf": csrf, "seen": seen, "likelihood": "high", "severity": "high", "measures": "Bucket closed."},
        follow_redirects=False)
    assert ok.headers["location"].endswith("done=assessed")
    assessed = s.engine.breaches.get(breach.id)
    assert assessed.risk == "high" and assessed.notify_people is True and assessed.measures == "Bucket closed."
    twice = officer.post(f"/admin/breaches/{breach.id}/assess", data={
        "csrf": csrf, "seen": seen, "likelihood": "low", "severity": "low"}, follow_redirects=False)
    assert twice.headers["location"].endswith("done=stale") and s.engine.breaches.get(breach.id).risk == "high"
    page = officer.get(f"/admin/breaches/{breach.id}").text
    seen = re.search(r'name="seen" value="(\d+)"', page).group(1)  # type: ignore[union-attr]
    form = {"csrf": csrf, "seen": seen, "phase": "initial", "note": "First report."}
    assert officer.post(f"/admin/breaches/{breach.id}/report", data=form).status_code == 200
    assert officer.post(f"/admin/breaches/{breach.id}/report", data=form).status_code == 200  # resubmitted
    assert len(s.engine.breaches.phases(breach.id)) == 1
    people = officer.get(f"/admin/breaches/{breach.id}/people?lang=en")
    assert people.status_code == 200 and "Important: a security incident" in people.text
    emails = re.findall(r'class="who-cell">([^<]+@[^<]+)<', people.text)
    assert emails and all("•" not in e for e in emails)
    seen = re.search(r'name="seen" value="(\d+)"', people.text).group(1)  # type: ignore[union-attr]
    unticked = officer.post(f"/admin/breaches/{breach.id}/notify", data={"csrf": csrf, "seen": seen, "lang": "pl"})
    assert unticked.status_code == 422 and "Tick the box" in unticked.text and not s.sink.messages()
    sent = officer.post(f"/admin/breaches/{breach.id}/notify", data={"csrf": csrf, "seen": seen, "lang": "pl",
                                                                     "confirm": "yes"}, follow_redirects=False)
    assert sent.headers["location"].endswith("done=notified")
    assert s.engine.breaches.notified_count(breach.id) == s.engine.breaches.get(breach.id).people_count
    count = len(s.sink.messages())
    assert count >= s.engine.breaches.get(breach.id).people_count
    officer.post(f"/admin/breaches/{breach.id}/notify", data={"csrf": csrf, "seen": seen, "lang": "pl", "confirm": "yes"})
    assert len(s.sink.messages()) == count  # nobody is told twice


def test_a_viewer_reads_masked_and_cannot_change_the_register(s: Site) -> None:
    reg = s.engine.breaches
    from datetime import UTC, datetime

    b = reg.open(title="Backup lost", aware_at=datetime(2026, 3, 1, tzinfo=UTC), collections=["main.users"],
                 window_from=datetime(2020, 1, 1, tzinfo=UTC), window_to=datetime(2026, 3, 1, tzinfo=UTC), actor="t")
    viewer = signed_in(s, "viewer")
    assert viewer.get("/admin/breaches/new").status_code == 403
    page = viewer.get(f"/admin/breaches/{b.id}?lang=en").text
    assert 'action="/admin/breaches/1/assess"' not in page and "Register a breach" not in viewer.get(
        "/admin/breaches?lang=en").text
    csrf = csrf_of(page)
    for path, data in (("new", GOOD), (f"{b.id}/assess", {"likelihood": "low", "severity": "low"}),
                       (f"{b.id}/report", {"phase": "initial"}), (f"{b.id}/notify", {"lang": "en", "confirm": "yes"})):
        assert viewer.post(f"/admin/breaches/{path}", data={"csrf": csrf, **data}).status_code == 403, path
    people = viewer.get(f"/admin/breaches/{b.id}/people").text
    shown = re.findall(r'class="who-cell">([^<]+)<', people)
    assert shown and all("•••" in e for e in shown)
    assert reg.get(b.id).risk is None and len(reg.all()) == 1
    assert viewer.get("/admin/breaches/999/people").status_code == 404
    assert viewer.get("/admin/breaches/abc").status_code == 422
