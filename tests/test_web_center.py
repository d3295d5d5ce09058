"""The privacy centre (/privacy) through the real app: forms, languages, codes, isolation."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pledge.web.center import KIND_LABELS, offered_kinds
from tests.web_support import Site, csrf_of, make_platform, people, site


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_platform(tmp_path_factory.mktemp("centre") / "omni-one", users=40)


@pytest.fixture
def s(template: Path, tmp_path: Path) -> Iterator[Site]:
    with site(template, tmp_path / "site") as one:
        yield one


def _plain(html: str) -> str:
    """A page without the parts that differ per request (ids, tokens)."""
    html = re.sub(r"req_[A-Za-z0-9_-]+", "REQ", html)
    return re.sub(r'name="csrf" value="[^"]+"', "", html)


def test_centre_offers_a_card_per_policy_right_then_a_form_per_kind(s: Site) -> None:
    page = s.client.get("/privacy?lang=en")
    assert page.status_code == 200
    kinds = offered_kinds(s.engine)
    offered = {r.kind for r in s.engine.policy.rights.offered}
    assert "access" in kinds and "complaint" in offered and "complaint" not in kinds
    for kind in kinds:
        assert f'href="/privacy/new/{kind}" id="card-{kind}"' in page.text
        assert f'<span class="kind-title">{KIND_LABELS[kind]}</span>' in page.text
    form = s.client.get("/privacy/new/access?lang=en").text
    assert '<label for="email">' in form and 'id="email"' in form and 'name="kind" value="access"' in form
    assert "change-users" not in form and 'name="purpose"' not in form  # only what access needs
    assert s.client.get("/privacy/new/complaint").status_code == 404


def test_language_from_accept_language_then_switch_remembered(s: Site) -> None:
    pl = s.client.get("/privacy/new/access", headers={"Accept-Language": "pl-PL,pl;q=0.9,en;q=0.5"})
    assert '<html lang="pl">' in pl.text and "Centrum prywatności" in pl.text and "Wyślij żądanie" in pl.text
    assert "Send request" not in pl.text
    switched = s.client.get("/privacy/new/access?lang=en", headers={"Accept-Language": "pl"})
    assert "Send request" in switched.text and switched.cookies.get("lang") == "en"
    again = s.client.get("/privacy", headers={"Accept-Language": "pl"})  # the cookie wins now
    assert '<html lang="en">' in again.text and "Privacy centre" in again.text


def test_errors_are_summarised_and_tied_to_fields(s: Site) -> None:
    page = s.client.get("/privacy?lang=en")
    res = s.client.post("/privacy/requests", data={"csrf": csrf_of(page.text), "email": "not-an-email"})
    assert res.status_code == 422
    assert 'class="error-summary" role="alert"' in res.text
    assert '<a href="#kind">Choose what you would like us to do.</a>' in res.text
    res = s.client.post("/privacy/requests", data={"csrf": csrf_of(page.text), "kind": "access",
                                                   "email": "not-an-email"})
    assert '<a href="#email">Enter your email address, like name@example.com.</a>' in res.text
    assert 'aria-invalid="true"' in res.text and 'value="not-an-email"' in res.text
    assert s.engine.requests.find() == []
    # rectification needs at least one detail with its value
    res = s.client.post("/privacy/requests", data={"csrf": csrf_of(page.text), "kind": "rectification",
                                                   "email": "ann@example.org"})
    assert res.status_code == 422 and '<a href="#change-users-name">' in res.text


def test_rectification_carries_the_change(s: Site) -> None:
    email = people(s.cfg, 1)[0]
    rid = s.submit(s.client, email, "rectification", field="users.name", value="Ann Example")
    assert s.engine.requests.payload(rid)["params"]["changes"] == {"users.name": "Ann Example"}


def test_forms_refuse_missing_or_forged_csrf(s: Site) -> None:
    s.client.get("/privacy")
    assert s.client.post("/privacy/requests", data={"kind": "access", "email": "a@example.org"}).status_code == 403
    forged = s.client.post("/privacy/requests", data={"csrf": "x" * 40, "kind": "access", "email": "a@example.org"})
    assert forged.status_code == 403
    # a token from another browser does not fit this browser's cookie
    other = s.new_client()
    theirs = csrf_of(other.get("/privacy").text)
    assert s.client.post("/privacy/requests", data={"csrf": theirs, "kind": "access",
                                                    "email": "a@example.org"}).status_code == 403
    assert s.engine.requests.find() == []


def test_the_answer_does_not_reveal_whether_an_email_has_an_account(s: Site) -> None:
    known = people(s.cfg, 1)[0]
    unknown = "nobody-here@example.org"
    pages = []
    for email in (known, unknown):
        client = s.new_client()
        rid = s.submit(client, email)
        pages.append(_plain(client.get(f"/privacy/requests/{rid}/verify?lang=en").text))
    assert pages[0] == pages[1]
    # both were sent a code, so the mailbox does not tell either
    assert {tuple(m.recipients) for m in s.sink.messages()} >= {(known,), (unknown,)}


def test_wrong_code_is_refused_with_a_summary(s: Site) -> None:
    email = people(s.cfg, 1)[0]
    rid = s.submit(s.client, email)
    page = s.client.get(f"/privacy/requests/{rid}/verify?lang=en")
    res = s.client.post(f"/privacy/requests/{rid}/verify", data={"csrf": csrf_of(page.text), "code": "000000"})
    assert res.status_code == 422 and 'role="alert"' in res.text and '<a href="#code">' in res.text
    assert s.engine.requests.get(rid).state == "verifying"
    assert s.client.get(f"/privacy/requests/{rid}").status_code == 403


def test_codes_links_and_sessions_never_cross_people(s: Site) -> None:
    ann, bob = people(s.cfg, 2)
    ann_client, bob_client, stranger = s.client, s.new_client(), s.new_client()
    rid_a = s.submit(ann_client, ann)
    rid_b = s.submit(bob_client, bob)
    # Bob's code does not verify Ann's request
    page = bob_client.get(f"/privacy/requests/{rid_a}/verify")
    from tests.web_support import code_for

    res = bob_client.post(f"/privacy/requests/{rid_a}/verify", data={"csrf": csrf_of(page.text),
                                                                      "code": code_for(s.sink, bob)})
    assert res.status_code == 422
    assert s.verify(ann_client, rid_a, ann).status_code == 303
    assert s.verify(bob_client, rid_b, bob).status_code == 303
    for rid in (rid_a, rid_b):
        s.engine.requests.approve(rid, actor="admin:test")

    status = ann_client.get(f"/privacy/requests/{rid_a}?lang=en")
    assert status.status_code == 200 and "Completed" in status.text
    link = re.search(r'href="(/privacy/requests/[^"]+/download\?sig=[^"]+)"', status.text)
    assert link
    ann_link = link.group(1).replace("&amp;", "&")
    # a stranger and Bob cannot see Ann's status; Bob's status token does not open it
    assert stranger.get(f"/privacy/requests/{rid_a}").status_code == 403
    assert bob_client.get(f"/privacy/requests/{rid_a}").status_code == 403
    bob_token = s.engine.requests.status_token(rid_b)
    assert stranger.get(f"/privacy/requests/{rid_a}?t={bob_token}").status_code == 403
    ann_token = s.engine.requests.status_token(rid_a)
    assert stranger.get(f"/privacy/requests/{rid_a}?t={ann_token}").status_code == 200  # the emailed link works
    # Ann's signed link opens only Ann's request, and not once tampered with
    sig = ann_link.split("sig=", 1)[1]
    assert stranger.get(f"/privacy/requests/{rid_b}/download?sig={sig}").status_code == 403
    assert stranger.get(ann_link[:-2] + ("AA" if not ann_link.endswith("AA") else "BB")).status_code == 403
    got = stranger.get(ann_link)  # the link itself is the proof: it works in any browser
    assert got.status_code == 200 and got.headers["content-type"] == "application/zip"
    blob = b"".join(zipfile.ZipFile(io.BytesIO(got.content)).read(n) for n in
                    zipfile.ZipFile(io.BytesIO(got.content)).namelist())
    assert ann.encode() in blob and bob.encode() not in blob
    # the cookie is signed: a hand-made one does not help
    forged = s.new_client()
    forged.cookies.set("pledge_requests", "e30.forged", path="/privacy")
    assert forged.get(f"/privacy/requests/{rid_a}").status_code == 403


def test_unknown_request_ids_look_the_same(s: Site) -> None:
    assert s.client.get("/privacy/requests/req_nothing/verify").status_code == 404
    assert s.client.get("/privacy/requests/req_nothing").status_code == 403


def test_the_emailed_status_link_opens_only_its_request(s: Site) -> None:
    ann, bob = people(s.cfg, 2)
    rid_a, rid_b = s.submit(s.client, ann), s.submit(s.new_client(), bob)
    # before the code is entered, no email carries a status link
    assert not any("/privacy/status/" in m.body for m in s.sink.messages())
    assert s.verify(s.new_client(), rid_a, ann).status_code == 303
    bodies = [m.body for m in s.sink.messages() if ann in m.recipients]
    found = next(re.search(r"/privacy/status/(req_[\w-]+)\?token=(\S+)", b) for b in bodies
                 if "/privacy/status/" in b)
    assert found and found.group(1) == rid_a
    link = s.new_client()
    opened = link.get(f"/privacy/status/{rid_a}?token={found.group(2)}&lang=en")
    assert opened.status_code == 200 and "Your request" in opened.text and rid_a in opened.text
    assert link.get(f"/privacy/requests/{rid_a}").status_code == 200  # remembered in this browser
    assert link.get(f"/privacy/status/{rid_b}?token={found.group(2)}").status_code == 403
    assert link.get(f"/privacy/requests/{rid_b}").status_code == 403
    assert link.get(f"/privacy/status/{rid_a}?token=tampered{found.group(2)}").status_code == 403


def test_org_confirm_link_shows_a_button_and_refuses_a_bad_token(s: Site) -> None:
    rid = s.submit(s.client, people(s.cfg, 1)[0])
    before = s.engine.requests.get(rid)
    page = s.client.get(f"/privacy/org-confirm/{rid}?token=not-a-token&lang=en")
    assert page.status_code == 200 and "Confirm the request" in page.text
    assert s.engine.requests.get(rid).state == before.state  # a GET never acts
    res = s.client.post(f"/privacy/org-confirm/{rid}", data={"csrf": csrf_of(page.text), "token": "not-a-token"})
    assert res.status_code == 403 and s.engine.requests.get(rid).state == before.state


def test_every_string_of_the_centre_and_console_has_a_polish_translation() -> None:
    from pledge.web import admin, center
    from pledge.web.i18n import catalogue

    web = Path(center.__file__).parent
    sources = [*sorted((web / "templates" / "center").glob("*.html")),
               *sorted((web / "templates" / "admin").glob("*.html")), web / "templates" / "dev_mail.html"]
    wanted: set[str] = set()
    for path in sources:
        wanted |= set(re.findall(r'_\("([^"]+)"', path.read_text(encoding="utf-8")))
    for path in (web / "center.py", web / "admin.py"):
        wanted |= set(re.findall(r'\bt\("([^"]+)"\)', path.read_text(encoding="utf-8")))
    for labels in (center.KIND_LABELS, center.KIND_HINTS, center.STATE_LABELS, admin.ROLE_LABELS,
                   admin.STATE_LABELS, admin.DONE_LABELS, admin.SOURCE_LABELS, admin.ASSURANCE_LABELS):
        wanted |= set(labels.values())
    assert len(wanted) > 150
    polish = catalogue("pl")
    missing = sorted(w for w in wanted if w not in polish)
    assert missing == []


def test_home_page_links_to_the_centre_and_the_console(s: Site) -> None:
    home = s.client.get("/?lang=pl").text
    assert 'href="/privacy"' in home and 'href="/admin"' in home and "Panel administracyjny" in home
