"""The branding slot (pledge.yaml ``branding:``) on every page and email; the links in the
demo mailbox; the choices link in every request email; the receipt after saving choices.

Attacks: markup as the brand's name, CSS injection as its colour, a logo outside the
deployment folder or over http, a ``javascript:`` link in a mail body, a tampered link.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from pathlib import Path

import pytest
import yaml

from pledge.branding import Brand, brand_css, contrast
from pledge.consent.unsubscribe import preferences_token
from pledge.devmail import DevMessage
from pledge.settings import ConfigError, load_config
from tests.web_support import Site, csrf_of, make_platform, people, site


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_platform(tmp_path_factory.mktemp("brand") / "omni-one", users=20)


@pytest.fixture
def s(template: Path, tmp_path: Path) -> Iterator[Site]:
    with site(template, tmp_path / "site") as one:
        yield one


def _variant(template: Path, folder: Path, branding: dict[str, object] | None) -> Path:
    """A copy of the template whose pledge.yaml has ``branding`` (None: no block at all)."""
    shutil.copytree(template.parent, folder, ignore=shutil.ignore_patterns(".pledge"))
    cfg = folder / "pledge.yaml"
    raw = yaml.safe_load(cfg.read_text())
    raw.pop("branding", None)
    if branding is not None:
        raw["branding"] = branding
    cfg.write_text(yaml.safe_dump(raw, sort_keys=False))
    return cfg


def _request_mail(s: Site, email: str, lang: str = "en") -> list[DevMessage]:
    client = s.new_client()
    page = client.get(f"/privacy/new/access?lang={lang}").text
    once = re.search(r'name="once" value="([^"]+)"', page)
    assert once
    res = client.post("/privacy/requests", data={"csrf": csrf_of(page), "kind": "access", "email": email,
                                                 "once": once.group(1)}, follow_redirects=False)
    assert res.status_code == 303, res.text
    rid = res.headers["location"].split("/")[3]
    verify = client.get(f"/privacy/requests/{rid}/verify").text
    from tests.web_support import code_for

    done = client.post(f"/privacy/requests/{rid}/verify", data={"csrf": csrf_of(verify),
                                                                "code": code_for(s.sink, email)},
                       follow_redirects=False)
    assert done.status_code in (200, 303), done.text
    s.engine.outbox.flush(timeout=5)
    mails = [m for m in s.sink.messages() if email in m.recipients]
    assert len(mails) >= 2  # the code, then at least the confirmation
    return mails


# -- 1. the brand on pages ------------------------------------------------------------------
def test_every_page_shows_the_brand_name_logo_colour_and_support(s: Site) -> None:
    token = preferences_token(s.engine, people(s.cfg, 1)[0])
    for path in ("/", "/privacy", "/privacy/new/erasure", "/notice", f"/preferences/{token}", "/admin/login",
                 "/nope", "/consent/demo"):
        for lang in ("en", "pl"):
            page = s.client.get(f"{path}?lang={lang}", headers={"accept": "text/html"})
            html = page.text
            assert re.search(r"<title>[^<]*Omni One</title>", html), (path, lang)
            assert '<img class="brand-logo" src="/brand/logo" alt="" height="28"><span>Omni One</span>' in html
            assert '<link rel="stylesheet" href="/brand.css?v=4f46e5">' in html
            assert '<a href="mailto:hello@omni1.ai">hello@omni1.ai</a>' in html
            assert ("Pytania? Napisz do" if lang == "pl" else "Questions? Write to") in html
            assert "style=" not in html.split("<main", 1)[0]  # no inline style in the head or header
    css = s.client.get("/brand.css")
    assert css.headers["content-type"].startswith("text/css")
    assert css.text == ":root { --brand: #4f46e5; --brand-ink: #ffffff; --accent: #4f46e5; --accent-ink: #ffffff; }\n"
    logo = s.client.get("/brand/logo")
    assert logo.status_code == 200 and logo.headers["content-type"] == "image/svg+xml"
    assert "sandbox" in logo.headers["content-security-policy"] and logo.content.startswith(b"<svg")


def test_without_a_branding_block_the_controller_is_the_brand(template: Path, tmp_path: Path) -> None:
    cfg = _variant(template, tmp_path / "tpl", None)
    with site(cfg, tmp_path / "site") as s:
        html = s.client.get("/privacy").text
        assert "<title>Privacy centre · Midaz Group Sp. z o.o.</title>" in html
        assert "<span>Midaz Group Sp. z o.o.</span>" in html and "brand-logo" not in html
        assert "/brand.css" not in html
        assert s.client.get("/brand.css").text == ":root {}\n" and s.client.get("/brand/logo").status_code == 404
        mails = _request_mail(s, people(s.cfg, 1)[0])
        assert all('"Midaz Group Sp. z o.o." <' in message_from_bytes(m.raw)["From"] for m in mails)


def test_markup_in_the_name_is_text_and_an_https_logo_is_allowed_by_the_csp(template: Path, tmp_path: Path) -> None:
    cfg = _variant(template, tmp_path / "tpl", {"name": "<script>alert(1)</script>",
                                                "logo": "https://cdn.example.com/brand/logo.png",
                                                "primary_colour": "#FFD700"})
    with site(cfg, tmp_path / "site") as s:
        page = s.client.get("/privacy")
        assert "<script>alert(1)</script>" not in page.text
        assert "<title>Privacy centre · &lt;script&gt;alert(1)&lt;/script&gt;</title>" in page.text
        assert '<span>&lt;script&gt;alert(1)&lt;/script&gt;</span>' in page.text
        assert '<img class="brand-logo" src="https://cdn.example.com/brand/logo.png"' in page.text
        assert "img-src 'self' data: https://cdn.example.com;" in page.headers["content-security-policy"]
        # a light colour paints the header with dark text; links keep a colour that reads on white
        assert s.client.get("/brand.css").text == ":root { --brand: #ffd700; --brand-ink: #1b1f24; }\n"
        mails = _request_mail(s, people(s.cfg, 1)[0])
        sender = message_from_bytes(mails[0].raw)["From"]
        assert sender == '"<script>alert(1)</script>" <privacy@pledge.localhost>'  # quoted: a name, not markup


@pytest.mark.parametrize(("branding", "key", "says"), [
    ({"primary_colour": "red;}</style><script>alert(1)</script>"}, "branding.primary_colour", "is not a colour"),
    ({"primary_colour": "#12345"}, "branding.primary_colour", "is not a colour"),
    ({"primary_colour": "#fff\n"}, "branding.primary_colour", "is not a colour"),
    ({"primary_colour": None}, "branding.primary_colour", "quote the colour"),
    ({"support_email": "help desk"}, "branding.support_email", "is not an email address"),
    ({"support_email": "a@b.co\nBcc: x@y.z"}, "branding.support_email", "is not an email address"),
    ({"name": "Shop\r\nBcc: x@y.z"}, "branding.name", "printable text on one line"),
    ({"name": ""}, "branding.name", "at least 1 character"),
    ({"logo": "javascript:alert(1)"}, "branding.logo", "must be one of"),
    ({"logo": "http://cdn.example.com/logo.png"}, "branding.logo", "must be https://"),
    ({"logo": "https://cdn.example.com/a.png\" onerror=\"x"}, "branding.logo", "must be https://"),
    ({"logo": "../outside.png"}, "branding.logo", "outside the deployment folder"),
    ({"logo": "missing.png"}, "branding.logo", "no such file"),
    ({"colour": "#fff"}, "branding.colour", "Extra inputs are not permitted"),
])
def test_a_bad_branding_value_is_refused_at_load_naming_file_and_key(
        template: Path, tmp_path: Path, branding: dict[str, object], key: str, says: str) -> None:
    (tmp_path / "outside.png").write_bytes(b"\x89PNG")
    cfg = _variant(template, tmp_path / "tpl", branding)
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    assert str(err.value).startswith(f"{cfg}: {key}") and says in str(err.value)


def test_the_colour_only_reaches_css_when_it_is_a_colour() -> None:
    assert brand_css(Brand("x", colour="red;}</style>")) == ":root {}\n"  # never written unchecked
    assert brand_css(Brand("x", colour="#0b5fff")).startswith(":root { --brand: #0b5fff; --brand-ink: #ffffff;")
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0


# -- 1. the brand in emails, 3. the choices link in every request email ----------------------
@pytest.mark.parametrize("lang", ["en", "pl"])
def test_every_request_email_carries_the_brand_and_the_signed_choices_link(s: Site, lang: str) -> None:
    email = people(s.cfg, 1)[0]
    mails = _request_mail(s, email, lang)
    for m in mails:
        msg = message_from_bytes(m.raw)
        assert msg["From"] == "Omni One <privacy@pledge.localhost>"
        body = m.body.replace("\r\n", "\n")
        assert "\n-- \n" in body and "Omni One" in body.split("\n-- \n", 1)[1]
        if lang == "pl":
            assert "Pytania? Napisz do hello@omni1.ai" in body
            assert "Twoje wybory dotyczące prywatności (wyrażenie lub wycofanie każdej zgody): " in body
        else:
            assert "Questions? Write to hello@omni1.ai" in body
            assert "Your privacy choices (give or withdraw each consent): " in body
        link = re.search(r"http://127\.0\.0\.1:8000(/preferences/[^\s?]+)\?lang=(\w+)", body)
        assert link and link.group(2) == lang
    assert link is not None
    opened = s.new_client().get(link.group(1) + f"?lang={lang}")
    assert opened.status_code == 200 and email in opened.text and 'name="purpose"' in opened.text
    token = link.group(1).rsplit("/", 1)[1]
    tampered = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")
    refused = s.new_client().get(f"/preferences/{tampered}?lang=en")
    assert refused.status_code == 400 and "This link is not valid" in refused.text
    assert email not in refused.text


# -- 2. clickable links in the demo mailbox --------------------------------------------------
def test_the_demo_mailbox_links_only_http_addresses(template: Path, tmp_path: Path) -> None:
    with site(template, tmp_path / "site", environment="development") as s:
        email = people(s.cfg, 1)[0]
        mails = _request_mail(s, email)
        status = next(re.search(r"http://127\.0\.0\.1:8000/privacy/status/\S+", m.body) for m in mails
                      if "/privacy/status/" in m.body)
        assert status
        s.sink.add(DevMessage("x@example.org", ("ann@example.org",), "Hi",
                              b"Subject: Hi\r\n\r\nClick <a href=javascript:alert(1)>here</a> or "
                              b"javascript:alert(2) or https://example.org/a?b=1&c=2.\r\n",
                              datetime(2026, 3, 2, tzinfo=UTC)))
        html = s.client.get("/dev/mail").text
        assert "Click &lt;a href=javascript:alert(1)&gt;here&lt;/a&gt; or javascript:alert(2) or " in html
        assert '<a href="https://example.org/a?b=1&amp;c=2" rel="noopener">https://example.org/a?b=1&amp;c=2</a>.' in html
        assert 'href="javascript' not in html and "<a href=javascript" not in html
        url = status.group(0).replace("&", "&amp;")
        assert f'<a href="{url}" rel="noopener">{url}</a>' in html
        opened = s.new_client().get(status.group(0).replace("http://127.0.0.1:8000", ""))
        assert opened.status_code == 200


# -- 4. the receipt after saving choices -----------------------------------------------------
def test_saving_choices_shows_a_receipt_in_the_persons_language(s: Site) -> None:
    email = people(s.cfg, 1)[0]
    token = preferences_token(s.engine, email)
    page = s.client.get(f"/preferences/{token}?lang=en").text
    keys = re.findall(r'name="purpose" value="([^"]+)"', page)
    assert len(keys) >= 2
    saved = s.client.post(f"/preferences/{token}?lang=en", data={"purpose": [keys[0]]}).text
    assert "Your choices are saved" in saved and "<dt>Recorded at</dt><dd>2 March 2026, 09:00 UTC</dd>" in saved
    ref = re.search(r"<dt>Receipt reference</dt><dd><code>(C-[0-9-]+)</code></dd>", saved)
    assert ref
    ids = [int(i) for i in ref.group(1)[2:].split("-")]
    assert len(ids) == len(keys)  # one ledger record per purpose: given for the first, refused for the rest
    assert saved.count("recorded now") == len(keys) and "you agree" in saved and "you said no" in saved
    s.clock.advance(minutes=5)
    pl = s.client.post(f"/preferences/{token}?lang=pl", data={"purpose": []}).text
    assert "<dt>Zapisano</dt><dd>2 marca 2026, 09:05 UTC</dd>" in pl
    assert "zgoda wycofana" in pl and "zapisano teraz" in pl and "Receipt" not in pl
    again = s.client.post(f"/preferences/{token}?lang=en", data={"purpose": []}).text
    assert "Nothing changed: your choices were already as you saved them." in again
    assert "Receipt reference" not in again and "recorded now" not in again
