"""The guided privacy centre over HTTP: a card per right, then only what that right needs;
typed, checked corrections; one request per submission; honest outcomes; complete Polish.

Attacks: bad and oversized input, forged CSRF, another person's token, a second submit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.dates import format_date
from sqlalchemy import create_engine, text

from pledge.policy.localize import SECTIONS
from pledge.reports.certificate import verify
from pledge.rights.kept import kept_items
from tests.web_support import Site, csrf_of, make_platform, people, site


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_platform(tmp_path_factory.mktemp("guided") / "omni-one", users=40)


@pytest.fixture
def s(template: Path, tmp_path: Path) -> Iterator[Site]:
    with site(template, tmp_path / "site") as one:
        yield one


def _form(s: Site, kind: str, lang: str = "en") -> str:
    page = s.client.get(f"/privacy/new/{kind}?lang={lang}")
    assert page.status_code == 200
    return page.text


def _post(s: Site, kind: str, email: str, **fields: str) -> object:
    page = _form(s, kind)
    once = re.search(r'name="once" value="([^"]+)"', page)
    assert once
    return s.client.post("/privacy/requests", data={"csrf": csrf_of(page), "kind": kind, "email": email,
                                                    "once": once.group(1), **fields}, follow_redirects=False)


def test_each_kind_asks_only_what_it_needs_with_policy_names(s: Site) -> None:
    rect = _form(s, "rectification")
    assert '<label for="change-users-name">Full name</label>' in rect  # the policy's own name
    assert '<label for="change-users-birth_date">Date of birth</label>' in rect
    # the date is typed as the hint says (ISO), not in a browser picker's locale order
    birth = re.search(r'<input type="([a-z]+)" id="change-users-birth_date"[^>]*>', rect)
    assert birth and birth.group(1) == "text" and 'pattern="[0-9]{4}-[0-9]{2}-[0-9]{2}"' in birth.group(0)
    assert 'placeholder="YYYY-MM-DD"' in birth.group(0) and "1990-05-17" in rect
    assert "users:" not in rect and "last login" not in rect and "change-users-status" not in rect
    assert 'name="purpose"' not in rect
    objection = _form(s, "objection")
    assert 'name="purpose"' in objection and "change-users" not in objection
    assert "Marketing emails" in objection
    pl = _form(s, "rectification", "pl")
    assert '<label for="change-users-name">Imię i nazwisko</label>' in pl
    assert '<label for="change-users-birth_date">Data urodzenia</label>' in pl
    assert "E-maile marketingowe" in _form(s, "objection", "pl")
    assert "Marketing emails" not in _form(s, "objection", "pl")


@pytest.mark.parametrize(("value", "message"), [
    ("banana", "Enter a real date, like 1990-05-17."),
    ("2999-01-01", "Enter a real date, like 1990-05-17."),
    ("1990-02-30", "Enter a real date, like 1990-05-17."),
    ("17.05.1990", "Enter a real date, like 1990-05-17."),  # a locale's order, not the hint's
    ("05/17/1990", "Enter a real date, like 1990-05-17."),
])
def test_a_bad_correction_is_refused_inline_and_nothing_is_created(s: Site, value: str, message: str) -> None:
    res = _post(s, "rectification", people(s.cfg, 1)[0], **{"change-users-birth_date": value})
    assert res.status_code == 422  # type: ignore[attr-defined]
    body = res.text  # type: ignore[attr-defined]
    assert f'<p class="field-error" id="change-users-birth_date-error">{message}</p>' in body
    assert f'<a href="#change-users-birth_date">{message}</a>' in body
    assert 'aria-invalid="true"' in body and f'value="{value}"' in body
    assert s.engine.requests.find() == []


def test_system_fields_cannot_be_corrected_by_any_route(s: Site) -> None:
    email = people(s.cfg, 1)[0]
    # the older form's field/value pair naming a system column, and a made-up input name
    res = _post(s, "rectification", email, field="users.status", value="active")
    assert res.status_code == 422 and "Choose the detail that is wrong." in res.text  # type: ignore[attr-defined]
    res = _post(s, "rectification", email, **{"change-users-status": "active", "change-users-last_login_at": "x"})
    assert res.status_code == 422  # type: ignore[attr-defined]
    assert "Fill in at least one detail with its correct value." in res.text  # type: ignore[attr-defined]
    # the JSON API refuses it too (request_input.check_params)
    assert s.engine.requests.find() == []


def test_a_good_correction_goes_through_once_even_after_back_and_resend(s: Site) -> None:
    email = people(s.cfg, 1)[0]
    page = _form(s, "rectification")
    data = {"csrf": csrf_of(page), "kind": "rectification", "email": email,
            "once": re.search(r'name="once" value="([^"]+)"', page).group(1),  # type: ignore[union-attr]
            "change-users-birth_date": "1990-05-17", "change-users-name": "Ann Example"}
    first = s.client.post("/privacy/requests", data=data, follow_redirects=False)
    again = s.client.post("/privacy/requests", data=data, follow_redirects=False)  # Back, then Send
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert len(s.engine.requests.find()) == 1
    rid = first.headers["location"].split("/")[3]
    assert s.engine.requests.payload(rid)["params"]["changes"] == {"users.birth_date": "1990-05-17",
                                                                   "users.name": "Ann Example"}
    # another browser with the same form fields is a new submission, not a copy of ours
    other = s.new_client()
    page = other.get("/privacy/new/access").text
    assert other.post("/privacy/requests", data={"csrf": csrf_of(page), "kind": "access", "email": email,
                                                 "once": data["once"]}, follow_redirects=False).status_code == 303
    assert len(s.engine.requests.find()) == 2


def test_oversized_and_hostile_input_is_refused_cleanly(s: Site) -> None:
    res = _post(s, "access", "a" * 5000 + "@example.org")
    assert res.status_code == 422  # type: ignore[attr-defined]
    res = _post(s, "rectification", people(s.cfg, 1)[0], **{"change-users-name": "x" * 5000})
    assert res.status_code == 422 and "This is too long" in res.text  # type: ignore[attr-defined]
    res = _post(s, "objection", people(s.cfg, 1)[0], purpose="<script>alert(1)</script>")
    assert res.status_code == 422 and "<script>alert(1)</script>" not in res.text  # type: ignore[attr-defined]
    res = _post(s, "access", people(s.cfg, 1)[0], details="note " * 3000)  # a long note is cut, not refused
    assert res.status_code == 303  # type: ignore[attr-defined]
    rid = res.headers["location"].split("/")[3]  # type: ignore[attr-defined]
    assert 1990 <= len(s.engine.requests.payload(rid)["params"]["details"]) <= 2000
    assert s.client.get("/privacy/new/..%2F..%2Fadmin").status_code == 404
    assert s.client.post("/privacy/choices", data={"email": "a@example.org"}).status_code == 403  # no CSRF


def test_privacy_choices_link_is_mailed_in_the_language_and_opens_the_choices(s: Site) -> None:
    email = people(s.cfg, 1)[0]
    page = s.client.get("/privacy?lang=pl").text
    res = s.client.post("/privacy/choices", data={"csrf": csrf_of(page), "email": email})
    assert res.status_code == 200 and "link do nich jest już w drodze" in res.text
    unknown = s.client.post("/privacy/choices", data={"csrf": csrf_of(page), "email": "nobody@example.org"})
    assert unknown.status_code == 200 and "link do nich jest już w drodze" in unknown.text  # same answer
    mail = s.sink.latest_to(email)
    assert mail is not None and "Twoje ustawienia prywatności" in mail.subject
    link = re.search(r"/preferences/(\S+)", mail.body)
    assert link
    opened = s.new_client().get("/preferences/" + link.group(1))
    assert opened.status_code == 200 and '<html lang="pl">' in opened.text and "E-maile marketingowe" in opened.text


def _with_invoices(cfg: Path) -> str:
    eng = create_engine(f"sqlite:///{cfg.parent / 'platform.db'}")
    with eng.connect() as conn:
        email = conn.execute(text(
            "SELECT u.email FROM users u WHERE u.status = 'active' AND EXISTS (SELECT 1 FROM invoices i "
            "WHERE i.user_id = u.id AND i.issued_at >= '2024-06-01') ORDER BY u.id LIMIT 1")).scalar()
    eng.dispose()
    assert email
    return str(email)


@pytest.mark.parametrize("lang", ["en", "pl"])
def test_a_partial_erasure_says_what_was_kept_why_and_until_when(s: Site, lang: str) -> None:
    email = _with_invoices(s.cfg)
    page = s.client.get(f"/privacy/new/erasure?lang={lang}").text
    res = s.client.post("/privacy/requests", data={"csrf": csrf_of(page), "kind": "erasure", "email": email},
                        follow_redirects=False)
    rid = res.headers["location"].split("/")[3]
    assert s.verify(s.client, rid, email).status_code == 303
    view = s.engine.requests.approve(rid, actor="admin:test")
    assert view.state == "partially_completed"
    kept = kept_items(s.engine.policy, view.result, lang)
    assert [k.key for k in kept] == ["tax_records"] and kept[0].until and kept[0].records > 0
    until = format_date(kept[0].until, "long", locale=lang)
    words = {"en": ("What we kept, and why", "Tax records", "Polish Tax Ordinance", until),
             "pl": ("Co zachowaliśmy i dlaczego", "Dokumentacja podatkowa", "Ordynacja podatkowa art. 86",
                    until)}[lang]
    status = s.client.get(f"/privacy/requests/{rid}")
    assert status.status_code == 200
    for w in words:
        assert w in status.text, w
    mail = s.sink.latest_to(email)
    assert mail is not None
    for w in words[1:]:
        assert w in mail.body, w
    # the certificate: only this browser (or the emailed link) gets it, and it verifies
    link = re.search(r'href="(/privacy/requests/[^"]+/certificate)"', status.text)
    assert link
    got = s.client.get(link.group(1))
    assert got.status_code == 200 and got.headers["content-type"].startswith("application/json")
    assert verify(json.loads(got.content))["request_id"]
    assert s.new_client().get(link.group(1)).status_code == 403
    other = s.submit(s.new_client(), people(s.cfg, 2)[1])
    assert s.new_client().get(f"/privacy/requests/{rid}/certificate?t="
                              f"{s.engine.requests.status_token(other)}").status_code == 403


def test_a_status_link_from_a_polish_email_opens_in_polish(s: Site) -> None:
    email = people(s.cfg, 1)[0]
    page = s.client.get("/privacy/new/access?lang=pl").text
    res = s.client.post("/privacy/requests", data={"csrf": csrf_of(page), "kind": "access", "email": email},
                        follow_redirects=False)
    rid = res.headers["location"].split("/")[3]
    assert s.verify(s.client, rid, email).status_code == 303
    link = next(re.search(r"(/privacy/status/\S+)", m.body) for m in reversed(s.sink.messages())
                if email in m.recipients and "/privacy/status/" in m.body)
    assert link
    fresh = s.new_client()  # an English browser without a language cookie
    opened = fresh.get(link.group(1), headers={"Accept-Language": "en-GB,en"})
    assert opened.status_code == 200 and '<html lang="pl">' in opened.text and "Twoje żądanie" in opened.text
    assert "lang" not in fresh.cookies


def english_labels(s: Site) -> list[str]:
    """The English names of every policy entry that has Polish words."""
    out = []
    for section in SECTIONS:
        for entry in getattr(s.engine.policy, section):
            if "pl" in entry.translations and entry.translations["pl"].name != entry.name:
                out.append(entry.name)
    return out


def test_polish_pages_hold_no_english_policy_label(s: Site) -> None:
    labels = english_labels(s)
    assert len(labels) > 30
    from tests.test_screens import english_sentences

    sentences = english_sentences(s.cfg)
    pages = ["/", "/notice", "/privacy", "/privacy/new/objection", "/privacy/new/withdraw_consent",
             "/privacy/new/rectification", "/privacy/new/restriction", "/consent/demo"]
    from pledge.consent.unsubscribe import preferences_token

    pages.append("/preferences/" + preferences_token(s.engine, people(s.cfg, 1)[0]))
    for path in pages:
        html = s.client.get(path + ("&" if "?" in path else "?") + "lang=pl").text
        plain = re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S))
        plain = re.sub(r"\s+", " ", plain).replace("&amp;", "&").replace("&#39;", "'")
        left = [x for x in labels if re.search(rf"(?<![\w-]){re.escape(x)}(?![\w-])", plain)]
        assert left == [], f"{path}: English policy labels {left}"
        assert [x for x in sentences if x in plain] == [], path
