"""The admin console (/admin): two-factor login, sessions, CSRF, roles, queue, actions, pages."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from pledge.rights.erasure import erase
from tests.web_support import Site, csrf_of, make_platform, people, site


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_platform(tmp_path_factory.mktemp("console") / "omni-one", users=40)


@pytest.fixture
def s(template: Path, tmp_path: Path) -> Iterator[Site]:
    with site(template, tmp_path / "site") as one:
        yield one


def verified(s: Site, email: str, kind: str = "access") -> str:
    """A request made and verified through the service (as the centre would)."""
    from tests.web_support import code_for

    view = s.engine.requests.create(kind, {"email": email})
    s.engine.requests.start_verification(view.id)
    s.engine.requests.verify_code(view.id, code_for(s.sink, email))
    return view.id


def test_login_needs_password_and_a_fresh_totp_code(s: Site) -> None:
    email = s.admin("privacy_officer")
    assert s.client.get("/admin", follow_redirects=False).headers["location"] == "/admin/login"
    wrong = s.login(s.client, "privacy_officer", code="000000" if s.totp(email) != "000000" else "111111")
    assert wrong.status_code == 401 and "The email, password or code is not right." in wrong.text
    assert "pledge_admin" not in wrong.cookies
    page = s.client.get("/admin/login")
    bad_pw = s.client.post("/admin/login", data={"csrf": csrf_of(page.text), "email": email,
                                                 "password": "not the password", "code": s.totp(email)})
    assert bad_pw.status_code == 401
    ok = s.login(s.client, "privacy_officer")
    assert ok.status_code == 303 and ok.headers["location"] == "/admin"
    assert s.client.get("/admin").status_code == 200
    # the same code does not sign in a second time
    again = s.login(s.new_client(), "privacy_officer", code=s.totp(email))
    assert again.status_code == 401


def test_login_form_needs_its_csrf_token(s: Site) -> None:
    email = s.admin("owner")
    s.client.get("/admin/login")
    res = s.client.post("/admin/login", data={"email": email, "password": "x", "code": s.totp(email)})
    assert res.status_code == 403


def test_viewer_can_look_but_neither_approve_nor_download(s: Site) -> None:
    rid = verified(s, people(s.cfg, 1)[0])
    viewer = s.new_client()
    assert s.login(viewer, "viewer").status_code == 303
    page = viewer.get(f"/admin/requests/{rid}")
    assert page.status_code == 200 and 'id="approve"' not in page.text
    res = viewer.post(f"/admin/requests/{rid}/approve", data={"csrf": csrf_of(page.text)})
    assert res.status_code == 403
    assert s.engine.requests.get(rid).state == "verified"
    for action, data in (("deny", {"ground": "manifestly_unfounded"}), ("extend", {"reason": "busy"}),
                         ("rerun", {})):
        assert viewer.post(f"/admin/requests/{rid}/{action}", data={"csrf": csrf_of(page.text), **data}
                           ).status_code == 403
    # once an officer has approved, the viewer still cannot download the package
    officer = s.new_client()
    s.login(officer, "privacy_officer")
    page = officer.get(f"/admin/requests/{rid}")
    assert officer.post(f"/admin/requests/{rid}/approve", data={"csrf": csrf_of(page.text)},
                       follow_redirects=False).status_code == 303
    assert s.engine.requests.get(rid).state == "completed"
    assert viewer.get(f"/admin/requests/{rid}/download").status_code == 403
    got = officer.get(f"/admin/requests/{rid}/download")
    assert got.status_code == 200 and got.content[:2] == b"PK"


def test_csrf_missing_or_forged_is_refused(s: Site) -> None:
    rid = verified(s, people(s.cfg, 1)[0])
    officer = s.new_client()
    s.login(officer, "privacy_officer")
    assert officer.post(f"/admin/requests/{rid}/approve").status_code == 403
    assert officer.post(f"/admin/requests/{rid}/approve", data={"csrf": "forged"}).status_code == 403
    # another session's token does not fit this session
    other = s.new_client()
    s.clock.advance(seconds=31)  # a new TOTP step for the second login
    s.login(other, "privacy_officer")
    theirs = csrf_of(other.get(f"/admin/requests/{rid}").text)
    assert theirs != csrf_of(officer.get(f"/admin/requests/{rid}").text)
    assert officer.post(f"/admin/requests/{rid}/approve", data={"csrf": theirs}).status_code == 403
    assert s.engine.requests.get(rid).state == "verified"


def test_sessions_expire_when_idle_at_their_end_and_on_logout(s: Site) -> None:
    s.login(s.client, "owner")
    s.clock.advance(minutes=29)
    assert s.client.get("/admin").status_code == 200
    s.clock.advance(minutes=31)  # idle too long
    res = s.client.get("/admin", follow_redirects=False)
    assert res.status_code == 303 and res.headers["location"] == "/admin/login?expired=1"
    # a session used all the time still ends after its lifetime
    s.clock.advance(seconds=31)
    client = s.new_client()
    s.login(client, "owner")
    alive = 0
    for _ in range(22):  # 22 x 25 minutes is past the 8-hour lifetime
        s.clock.advance(minutes=25)
        if client.get("/admin", follow_redirects=False).status_code != 200:
            break
        alive += 1
    assert alive == 19  # 19 x 25 = 475 minutes live; at 500 minutes the session is over
    assert client.get("/admin", follow_redirects=False).status_code == 303
    # logging out revokes the session on the server: the old cookie is dead
    s.clock.advance(seconds=31)
    third = s.new_client()
    s.login(third, "owner")
    cookie = third.cookies.get("pledge_admin")
    page = third.get("/admin")
    assert third.post("/admin/logout", data={"csrf": csrf_of(page.text)}, follow_redirects=False).status_code == 303
    replay = s.new_client()
    replay.cookies.set("pledge_admin", cookie or "", path="/admin")
    assert replay.get("/admin", follow_redirects=False).status_code == 303


def test_queue_is_sorted_by_due_date_with_days_left_and_overdue(s: Site) -> None:
    ann, bob = people(s.cfg, 2)
    first = verified(s, ann)
    s.clock.advance(days=10)
    second = verified(s, bob, "erasure")
    s.clock.advance(days=25)  # the first is past its 30-day promise, the second is not
    s.login(s.client, "viewer")
    page = s.client.get("/admin?lang=en").text
    assert page.index(first) < page.index(second)
    rows = re.findall(r"<tr class=\"(overdue)?\">(.*?)</tr>", page, re.S)
    by_id = {rid: (cls, body) for cls, body in rows for rid in (first, second) if rid in body}
    assert by_id[first][0] == "overdue" and "Overdue" in by_id[first][1]
    assert by_id[second][0] == "" and "Overdue" not in by_id[second][1]
    left = s.engine.requests.get(second).days_left
    assert left == 5 and re.search(rf'<td class="num" data-label="Days left">{left}\b', by_id[second][1])


def test_request_page_previews_the_plan_and_shows_the_trail(s: Site) -> None:
    email = people(s.cfg, 1)[0]
    rid = verified(s, email, "erasure")
    s.login(s.client, "privacy_officer")
    page = s.client.get(f"/admin/requests/{rid}?lang=en").text
    text = re.sub(r"<wbr>", "", page)
    plan = erase(s.engine, {"email": email}, plan=True)
    assert plan["tables"], "the person has rows to erase"
    totals = plan["totals"]
    for outcome, words in (("deleted", "deleted"), ("masked", "masked"), ("retained", "kept")):
        assert f"{totals[outcome]} rows {words}" in text
    for entry in plan["deleted"] + plan["masked"]:
        assert re.search(rf'{re.escape(entry["collection"])}</code> <span class="badge">{entry["rows"]} rows', text), entry
    assert "request.received" in text and "request.verified" in text
    assert email in page  # an officer sees who asked; a viewer sees it masked (test_admin_request_page)


def test_deny_needs_a_ground_from_the_list_and_extend_needs_a_reason(s: Site) -> None:
    ann, bob = people(s.cfg, 2)
    rid = verified(s, ann)
    s.login(s.client, "owner")
    csrf = csrf_of(s.client.get(f"/admin/requests/{rid}").text)
    bad = s.client.post(f"/admin/requests/{rid}/deny", data={"csrf": csrf, "ground": "because"})
    assert bad.status_code == 422 and "Choose the legal ground" in bad.text
    assert s.engine.requests.get(rid).state == "verified"
    assert s.client.post(f"/admin/requests/{rid}/extend", data={"csrf": csrf, "reason": "Many systems to search"}
                         ).status_code == 200
    view = s.engine.requests.get(rid)
    assert view.extended_due_on is not None and view.extended_due_on > view.due_on
    s.client.post(f"/admin/requests/{rid}/deny", data={"csrf": csrf, "ground": "manifestly_unfounded",
                                                       "note": "Fifth identical request this week"})
    view = s.engine.requests.get(rid)
    assert view.state == "denied" and view.denial_ground == "manifestly_unfounded"
    trail = s.client.get(f"/admin/requests/{rid}").text.replace("<wbr>", "")
    assert "request.denied" in trail and "request.extended" in trail


def test_data_map_and_metrics_pages(s: Site) -> None:
    ann, bob = people(s.cfg, 2)
    done = verified(s, ann)
    s.engine.requests.approve(done, actor="admin:test")
    refused = verified(s, bob, "erasure")
    s.engine.requests.deny(refused, "legal_claims", actor="admin:test")
    s.login(s.client, "viewer")
    dm = s.client.get("/admin/datamap?lang=en")
    assert dm.status_code == 200 and "<svg" in dm.text and "Data map" in dm.text
    assert s.client.get("/admin/datamap.svg").headers["content-type"].startswith("image/svg+xml")
    metrics = s.client.get("/admin/metrics?lang=pl")
    assert metrics.status_code == 200 and "Statystyki żądań" in metrics.text and "2026" in metrics.text
    rows = list(csv.DictReader(io.StringIO(s.client.get("/admin/metrics.csv").text)))
    access = next(r for r in rows if r["section"] == "requests" and r["request_type"] == "access")
    assert (access["year"], access["received"], access["completed"]) == ("2026", "1", "1")
    denial = next(r for r in rows if r["section"] == "denials")
    assert (denial["denial_ground"], denial["count"]) == ("legal_claims", "1")


def test_pages_need_a_session(s: Site) -> None:
    for path in ("/admin", "/admin/metrics", "/admin/metrics.csv", "/admin/datamap", "/admin/requests/x"):
        res = s.client.get(path, follow_redirects=False)
        assert res.status_code == 303 and res.headers["location"] == "/admin/login", path


def test_dev_mail_only_in_development(template: Path, tmp_path: Path) -> None:
    with site(template, tmp_path / "dev", environment="development") as dev:
        for n, email in enumerate(("first@example.org", "second@example.org")):
            view = dev.engine.requests.create("access", {"email": email})
            dev.engine.requests.start_verification(view.id)
            dev.clock.advance(seconds=n + 1)
        page = dev.client.get("/dev/mail").text
        assert page.index("second@example.org") < page.index("first@example.org")  # newest first
        assert re.search(r"\b[0-9A-Z]{4}-[0-9A-Z]{4}\b", page)  # a verification code
    with site(template, tmp_path / "prod-like", environment="test") as other:
        assert other.client.get("/dev/mail").status_code == 404
