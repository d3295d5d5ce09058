"""The console's request page and queue (#17): who asked and how they were verified, the diff
of a rectification, the note, the plan with sample rows (masked for a viewer), the
confirmation before an erasure, the kept record after it, refusal grounds per kind,
duplicate submissions, the failed-run reason in Polish, and the queue's filters —
over HTTP, with the attacks: a viewer, a missing CSRF token, another request's form,
bad filter values."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from pledge.rights.request_input import objectable_purposes
from tests.web_support import Site, code_for, csrf_of, make_platform, people, site


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_platform(tmp_path_factory.mktemp("admin-request") / "omni-one", users=40)


@pytest.fixture
def s(template: Path, tmp_path: Path) -> Iterator[Site]:
    with site(template, tmp_path / "site") as one:
        yield one


def verified(s: Site, email: str, kind: str = "access", **params: object) -> str:
    view = s.engine.requests.create(kind, {"email": email}, params=params or None)
    s.engine.requests.start_verification(view.id)
    s.engine.requests.verify_code(view.id, code_for(s.sink, email))
    return s.engine.requests.after_verified(view.id, "subject").id


def signed_in(s: Site, role: str) -> object:
    client = s.new_client()
    s.clock.advance(seconds=31)  # a fresh TOTP step for each sign-in
    assert s.login(client, role).status_code == 303
    return client


def text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.replace("<wbr>", ""))))


def seen_of(html: str) -> str:
    found = re.search(r'name="seen" value="(\d+)"', html)
    assert found
    return found.group(1)


def test_each_kind_shows_requester_evidence_what_was_asked_and_the_note(s: Site) -> None:
    from pledge.web.center import offered_kinds

    kinds = offered_kinds(s.engine)
    emails = people(s.cfg, len(kinds) + 1)
    purpose = objectable_purposes(s.engine.policy)[0][0]
    consent = next(p for p in s.engine.policy.purposes if p.consent_required)
    asked: dict[str, dict[str, object]] = {
        "rectification": {"changes": {"users.name": "Anna Nowak-Kowalska"}}, "objection": {"purpose": purpose},
        "restriction": {"purpose": purpose}, "withdraw_consent": {"purposes": [consent.key]}}
    made = {kind: verified(s, emails[i], kind, details=f"My note about the {kind} request, please.",
                           **asked.get(kind, {}))
            for i, kind in enumerate(kinds)}
    assert {"access", "rectification", "erasure", "restriction", "portability", "objection",
            "withdraw_consent"} <= set(made)  # every kind the privacy centre offers
    officer = s.engine.requests.open_on_initiative("erasure", {"email": emails[-1]}, ground="child_under_minimum_age",
                                                   note="Birth date shows age 12", actor="admin:0",
                                                   evidence="Parent's letter, ticket 4411").id
    client = signed_in(s, "privacy_officer")
    for kind, rid in made.items():
        page = client.get(f"/admin/requests/{rid}?lang=en").text
        words = text(page)
        assert s.engine.requests.identities(rid)["email"] in words, kind  # who asked
        assert "A one-time code sent to the email address" in words and "Verified 2026-03-02" in words, kind
        assert f"My note about the {kind} request, please." in words, kind  # their note
        if kind in ("objection", "restriction"):
            assert dict(objectable_purposes(s.engine.policy))[purpose] in words, kind  # what they asked
        if kind == "withdraw_consent":
            assert consent.name in words, kind
    diff = client.get(f"/admin/requests/{made['rectification']}?lang=en").text
    assert re.search(r'<del>[^<]+</del>.*<ins>Anna Nowak-Kowalska</ins>', diff, re.S)  # live value → requested
    assert "main.users.name" in text(diff)
    assert purpose in text(client.get(f"/admin/requests/{made['objection']}").text)
    opened = text(client.get(f"/admin/requests/{officer}?lang=en").text)
    for words in ("Our own initiative", "Birth date shows age 12", "Parent's letter, ticket 4411",
                  "A child under the policy's minimum age"):
        assert words in opened, words


def test_a_viewer_sees_everything_masked_and_cannot_act(s: Site) -> None:
    email = people(s.cfg, 1)[0]
    rid = verified(s, email, "erasure", details="Close my account.")
    viewer = signed_in(s, "viewer")
    page = viewer.get(f"/admin/requests/{rid}?lang=en").text
    assert email not in page and "Close my account." not in page
    assert f"{email[0]}•••@" in page and "Values are masked for your role." in page
    user = s.engine.requests.identities(rid)
    name = next(r for r in __import__("pledge.rights.locate", fromlist=["locate"]).locate(
        s.engine, user).rows["main.users"])["name"]
    assert name not in page  # sample rows masked
    assert 'id="approve"' not in page
    assert viewer.get(f"/admin/requests/{rid}/approve").status_code == 403
    res = viewer.post(f"/admin/requests/{rid}/approve", data={"csrf": csrf_of(page), "confirm": "yes"})
    assert res.status_code == 403 and s.engine.requests.get(rid).state == "verified"
    queue = viewer.get("/admin?lang=en").text
    assert email not in queue and f"{email[0]}•••@" in queue
    officer = signed_in(s, "privacy_officer")
    officer_page = officer.get(f"/admin/requests/{rid}?lang=en").text
    assert email in officer_page and name in officer_page and "Close my account." in officer_page


def test_an_erasure_needs_the_confirmation_then_keeps_its_record(s: Site) -> None:
    email = people(s.cfg, 1)[0]
    rid = verified(s, email, "erasure")
    officer = signed_in(s, "privacy_officer")
    page = officer.get(f"/admin/requests/{rid}").text
    assert f'action="/admin/requests/{rid}/approve"' in page and 'method="get"' in page
    # a direct POST without the ticked box, or without CSRF, does nothing
    assert officer.post(f"/admin/requests/{rid}/approve", data={"confirm": "yes"}).status_code == 403
    unticked = officer.post(f"/admin/requests/{rid}/approve", data={"csrf": csrf_of(page)})
    assert unticked.status_code == 422 and "Tick the box" in unticked.text
    confirm = officer.get(f"/admin/requests/{rid}/approve?lang=en")
    assert confirm.status_code == 200 and "Approve the erasure?" in confirm.text
    form = {"csrf": csrf_of(confirm.text), "seen": seen_of(confirm.text), "confirm": "yes",
            "plan": re.search(r'name="plan" value="([0-9a-f]+)"', confirm.text).group(1)}  # type: ignore[union-attr]
    wrong_plan = officer.post(f"/admin/requests/{rid}/approve", data={**form, "plan": "0" * 16})
    assert wrong_plan.status_code == 409 and s.engine.requests.get(rid).state == "verified"
    done = officer.post(f"/admin/requests/{rid}/approve", data=form, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].endswith("done=approved")
    view = s.engine.requests.get(rid)
    assert view.state in ("completed", "partially_completed")
    # the same form again (Back and resubmit): nothing more happens, and the page says so
    again = officer.post(f"/admin/requests/{rid}/approve", data=form, follow_redirects=False)
    assert again.headers["location"].endswith("done=stale")
    after = officer.get(f"/admin/requests/{rid}?lang=en").text
    words = text(after)
    cert = view.result["certificate"]["certificate"]
    assert "What was done" in words and f"{cert['totals']['deleted']} rows deleted" in words
    assert "No rows found" not in words and cert["totals"]["deleted"] > 0
    for entry in cert["deleted"]:
        assert entry["collection"] in words
    got = officer.get(f"/admin/requests/{rid}/certificate.json")
    assert got.status_code == 200 and got.json() == view.result["certificate"]
    # the record is what was stored: re-reading the page later shows the same numbers
    s.clock.advance(days=3)
    later = signed_in(s, "viewer")
    assert f"{cert['totals']['deleted']} rows deleted" in text(later.get(f"/admin/requests/{rid}?lang=en").text)


def with_invoice(cfg: Path) -> str:
    """An active user with an invoice (kept five years under the tax exemption)."""
    from sqlalchemy import create_engine
    from sqlalchemy import text as sql

    eng = create_engine(f"sqlite:///{cfg.parent / 'platform.db'}")
    with eng.connect() as conn:
        email = conn.execute(sql("SELECT u.email FROM users u JOIN invoices i ON i.user_id = u.id "
                                 "WHERE u.status = 'active' ORDER BY u.id LIMIT 1")).scalar_one()
    eng.dispose()
    return str(email)


def platform_sql(cfg: Path, query: str, **params: object) -> list[tuple[object, ...]]:
    """Read or write the platform's database directly, beside Pledge (an independent check)."""
    from sqlalchemy import create_engine
    from sqlalchemy import text as sql

    eng = create_engine(f"sqlite:///{cfg.parent / 'platform.db'}")
    with eng.begin() as conn:
        result = conn.execute(sql(query), params)
        rows = [tuple(r) for r in result] if result.returns_rows else []
    eng.dispose()
    return rows


def test_rerun_says_what_it_changed(s: Site) -> None:
    email = with_invoice(s.cfg)
    invoices = [int(str(r[0])) for r in platform_sql(
        s.cfg, "SELECT i.id FROM invoices i JOIN users u ON u.id = i.user_id WHERE u.email = :e", e=email)]
    among = "id IN ({})".format(", ".join(map(str, invoices)))
    held = f"SELECT count(*) FROM invoices WHERE {among}"
    rid = verified(s, email, "erasure")
    s.engine.requests.approve(rid, actor="admin:test")
    officer = signed_in(s, "owner")
    view = s.engine.requests.get(rid)
    kept_now = int(str(platform_sql(s.cfg, held)[0][0]))
    assert view.state == "partially_completed" and kept_now > 0
    assert view.result["summary"]["exempt"] == kept_now  # the invoices the database still holds
    assert platform_sql(s.cfg, f"SELECT count(*) FROM invoices WHERE user_id IS NOT NULL AND {among}") \
        == [(0,)]  # their link to the person is cut: a new run cannot find them by the person
    page = officer.get(f"/admin/requests/{rid}").text
    res = officer.post(f"/admin/requests/{rid}/rerun", data={"csrf": csrf_of(page), "seen": seen_of(page)})
    words = text(res.text)
    assert res.status_code == 200 and "The request ran again and changed nothing." in words
    assert f"{kept_now} rows are still kept under an exemption" in words
    view = s.engine.requests.get(rid)
    assert view.state == "partially_completed"  # the invoice is still kept: the re-run does not hide it
    first = officer.get(f"/admin/requests/{rid}/certificate.json?run=1")
    assert first.status_code == 200 and first.json() != view.result["certificate"]
    assert first.json()["certificate"]["totals"]["deleted"] > 0  # the first run's record is kept
    assert officer.get(f"/admin/requests/{rid}/certificate.json?run=9").status_code == 404

    # a kept invoice's legal period ends and it is deleted beside Pledge: a re-run reads what is
    # kept now, and says so; with none left the request is completed
    gone = platform_sql(s.cfg, held.replace("count(*)", "id") + " ORDER BY id LIMIT 1")[0][0]
    platform_sql(s.cfg, "DELETE FROM invoices WHERE id = :i", i=gone)
    expected = int(str(platform_sql(s.cfg, held)[0][0]))
    page = officer.get(f"/admin/requests/{rid}").text
    words = text(officer.post(f"/admin/requests/{rid}/rerun", data={"csrf": csrf_of(page),
                                                                    "seen": seen_of(page)}).text)
    view = s.engine.requests.get(rid)
    assert view.result["summary"]["exempt"] == expected == kept_now - 1
    assert "1 rows kept before are no longer held" in words
    assert (f"{expected} rows are still kept under an exemption" in words) == (expected > 0)
    assert view.state == ("partially_completed" if expected else "completed")
    # the person's status page names what is kept now, though the re-run's certificate cannot
    status = s.new_client().get(f"/privacy/status/{rid}?token={s.engine.requests.status_token(rid)}&lang=en")
    assert f"({expected} records)" in text(status.text) or f"{expected} records" in text(status.text)
    assert "Tax records" in text(status.text)
    platform_sql(s.cfg, held.replace("SELECT count(*)", "DELETE"))
    page = officer.get(f"/admin/requests/{rid}").text
    officer.post(f"/admin/requests/{rid}/rerun", data={"csrf": csrf_of(page), "seen": seen_of(page)})
    view = s.engine.requests.get(rid)
    assert view.state == "completed" and view.result["summary"]["exempt"] == 0 == platform_sql(s.cfg, held)[0][0]
    from pledge.rights.kept import kept_items

    assert kept_items(s.engine.policy, view.result, "en") == []  # nothing is said to be kept any more


def test_refusal_grounds_fit_the_kind(s: Site) -> None:
    ann, bob = people(s.cfg, 2)
    access, erasure = verified(s, ann, "access"), verified(s, bob, "erasure")
    officer = signed_in(s, "privacy_officer")
    page = officer.get(f"/admin/requests/{access}").text
    offered = re.findall(r'<option value="([a-z_0-9]+)"', page.split('id="ground"')[1].split("</select>")[0])
    assert "rights_of_others" in offered and "legal_obligation" not in offered and "freedom_of_expression" not in offered
    res = officer.post(f"/admin/requests/{access}/deny", data={"csrf": csrf_of(page), "ground": "legal_obligation"})
    assert res.status_code == 422 and "does not apply" in res.text
    assert s.engine.requests.get(access).state == "verified"
    erasure_page = officer.get(f"/admin/requests/{erasure}").text
    assert 'value="legal_obligation"' in erasure_page and 'value="rights_of_others"' not in erasure_page


def test_a_form_of_one_request_does_nothing_to_another(s: Site) -> None:
    ann, bob = people(s.cfg, 2)
    first, second = verified(s, ann), verified(s, bob)
    officer = signed_in(s, "privacy_officer")
    page = officer.get(f"/admin/requests/{first}").text
    officer.post(f"/admin/requests/{first}/extend", data={"csrf": csrf_of(page), "reason": "Busy"})  # moves first
    other = officer.post(f"/admin/requests/{second}/approve", data={"csrf": csrf_of(page), "seen": "1"},
                         follow_redirects=False)
    assert other.headers["location"].endswith("done=stale") and s.engine.requests.get(second).state == "verified"
    assert officer.post("/admin/requests/req_nothing/approve", data={"csrf": csrf_of(page)}).status_code == 404
    assert officer.get("/admin/requests/req_nothing").status_code == 404


def test_a_failed_run_is_explained_in_polish(s: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    from pledge.connectors.base import ConnectorError
    from pledge.rights import request_run

    rid = verified(s, people(s.cfg, 1)[0], "access")

    def broken(*_a: object, **_k: object) -> object:
        raise ConnectorError("platform database main: connection refused")

    monkeypatch.setattr(request_run, "_access", broken)
    s.engine.requests.approve(rid, actor="admin:test")
    assert s.engine.requests.get(rid).state == "failed"
    officer = signed_in(s, "privacy_officer")
    words = text(officer.get(f"/admin/requests/{rid}?lang=pl").text)
    assert "Baza danych platformy była nieosiągalna" in words
    assert "ConnectorError" in words  # the error itself stays, under the technical detail


def test_queue_filters_search_and_bad_values(s: Site) -> None:
    ann, bob, cat = people(s.cfg, 3)
    access = verified(s, ann, "access")
    s.clock.advance(days=20)
    erasure = verified(s, bob, "erasure")
    waiting = s.engine.requests.create("rectification", {"email": cat},
                                       params={"changes": {"users.name": "Cat"}}).id
    s.clock.advance(days=15)  # access is overdue; erasure is due in 15 days
    owner = signed_in(s, "owner")

    def ids(query: str) -> set[str]:
        res = owner.get(f"/admin?lang=en&{query}")
        assert res.status_code == 200, (query, res.status_code)
        return {r for r in (access, erasure, waiting) if r in res.text}

    assert ids("") == {access, erasure, waiting}
    assert ids("kind=erasure") == {erasure}
    assert ids("due=overdue") == {access}
    assert ids("due=20") == {access, erasure, waiting} and ids("due=5") == {access}
    assert ids("state=verifying") == set() and ids("state=received") == {waiting}
    assert ids(f"q={bob}") == {erasure} and ids(f"q={access[:10]}") >= {access}
    assert ids("regime=gdpr") == {access, erasure, waiting}
    page = owner.get("/admin?lang=en").text
    assert "Access (GDPR Art. 15)" in page and ann in page and "Overdue" in page
    for query, words in (("state=nope", "Choose a state"), ("kind=%3Cscript%3E", "Choose a request type"),
                         ("due=-3", "Due within"), ("due=99999999999999999999", "Due within"),
                         ("regime=xx", "Choose a law"), ("q=%27%20OR%201%3D1", "Search by a reference"),
                         ("page=0", "no such page"), ("page=abc", "no such page"), ("page=999", "no such page")):
        res = owner.get(f"/admin?lang=en&{query}")
        assert res.status_code == 422 and words in res.text, query
        assert "<script>" not in res.text
    polish = owner.get("/admin?lang=pl&regime=gdpr").text
    assert "RODO" in polish and ">GDPR<" not in polish
