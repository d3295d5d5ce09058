"""The privacy notice (GDPR Art. 13 and 14), rendered from the policy in English or Polish.

The notice is built as sections of blocks (paragraphs, lists, tables), each section naming
the Art. 13/14 items it answers, then rendered as HTML or Markdown. Every sentence is an
English msgid translated through the ``notice`` catalogue
(``pledge/web/locales/pl/LC_MESSAGES/notice.po``); the facts (names, periods, countries)
come from the policy, so the notice cannot drift from what Pledge enforces.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Literal

from babel.dates import format_date

from pledge.i18n import Translator, translator
from pledge.policy.model import Policy, Purpose
from pledge.reports.dpv import INVALID_TRANSFERS, is_third_country
from pledge.reports.words import country_name, duration_words

FORMATS = ("html", "md")
DOMAINS = ("notice",)


def N_(text: str) -> str:
    """Mark a msgid for extraction; translated later, where the language is known."""
    return text


#: Every item of Art. 13 and the extra items of Art. 14, as "13(1)(a)" etc.
ART13 = ("13(1)(a)", "13(1)(b)", "13(1)(c)", "13(1)(d)", "13(1)(e)", "13(1)(f)",
         "13(2)(a)", "13(2)(b)", "13(2)(c)", "13(2)(d)", "13(2)(e)", "13(2)(f)")
ART14 = ("14(1)(a)", "14(1)(b)", "14(1)(c)", "14(1)(d)", "14(1)(e)", "14(1)(f)",
         "14(2)(a)", "14(2)(b)", "14(2)(c)", "14(2)(d)", "14(2)(e)", "14(2)(f)", "14(2)(g)")

LEGAL_BASIS = {
    "consent": N_("your consent (Art. 6(1)(a) GDPR)"),
    "contract": N_("performance of a contract with you, or steps you asked for before entering into one "
                   "(Art. 6(1)(b) GDPR)"),
    "legal_obligation": N_("compliance with a legal obligation we are subject to (Art. 6(1)(c) GDPR)"),
    "vital_interests": N_("protection of your vital interests or those of another person (Art. 6(1)(d) GDPR)"),
    "public_task": N_("a task carried out in the public interest (Art. 6(1)(e) GDPR)"),
    "legitimate_interests": N_("our legitimate interests (Art. 6(1)(f) GDPR)"),
}
SOURCE = {
    "provided": N_("from you"),
    "automatic": N_("collected automatically when you use the service"),
    "third_party": N_("from third parties"),
}
ROLE = {
    "processor": N_("processor acting on our behalf"),
    "controller": N_("independent controller"),
    "joint_controller": N_("joint controller"),
    "public_authority": N_("public authority"),
    "recipient": N_("recipient"),
}
SAFEGUARD = {
    "adequacy": N_("an adequacy decision of the European Commission (Art. 45 GDPR)"),
    "dpf": N_("the European Commission's adequacy decision for the EU-US Data Privacy Framework (Art. 45 GDPR)"),
    "scc": N_("standard contractual clauses adopted by the European Commission (Art. 46(2)(c) GDPR)"),
    "bcr": N_("binding corporate rules (Art. 47 GDPR)"),
    "derogation": N_("a derogation for specific situations (Art. 49 GDPR)"),
    "consent": N_("your explicit consent to the transfer (Art. 49(1)(a) GDPR)"),
    "privacy_shield": N_("the EU-US Privacy Shield, which the Court of Justice of the EU invalidated in 2020 "
                         "(case C-311/18); this transfer needs a new safeguard"),
    "swiss_us_privacy_shield": N_("the Swiss-US Privacy Shield, which is no longer recognised; this transfer "
                                  "needs a new safeguard"),
}
TRIGGER = {
    "created_at": N_("after the data are collected"),
    "last_login_at": N_("after your last login"),
    "last_seen_at": N_("after your last activity"),
    "closed_at": N_("after the account is closed"),
    "deleted_at": N_("after you delete them"),
    "issued_at": N_("after the document is issued"),
    "uploaded_at": N_("after the upload"),
    "last_contact_at": N_("after our last contact with you"),
    "expires_at": N_("after access expires"),
}
ACTION = {"delete": N_("deleted"), "anonymise": N_("anonymised")}
RIGHT = {
    "access": N_("access your personal data and receive a copy of them (Art. 15 GDPR)"),
    "rectification": N_("have inaccurate data corrected and incomplete data completed (Art. 16 GDPR)"),
    "erasure": N_("have your data erased (Art. 17 GDPR)"),
    "restriction": N_("restrict the processing of your data (Art. 18 GDPR)"),
    "portability": N_("receive your data in a structured, machine-readable format and have them sent to "
                      "another controller (Art. 20 GDPR)"),
    "objection": N_("object to processing based on our legitimate interests, and at any time to direct "
                    "marketing (Art. 21 GDPR)"),
}
CHANNEL = {
    "email": N_("by email to {address}"),
    "web": N_("through the privacy centre on our website"),
    "post": N_("by post to {address}"),
    "in_app": N_("in the app"),
    "phone": N_("by phone at {address}"),
    "account_settings": N_("in your account settings"),
}
NOTICE_CHANNEL = {
    "email": N_("email"),
    "web": N_("a notice on our website"),
    "post": N_("a letter"),
    "in_app": N_("a message in the app"),
    "phone": N_("a phone call"),
    "account_settings": N_("a message on your account page"),
}
REQUIREMENT = {
    "contract": N_("{purpose}: providing the data is a condition of the contract; without them we cannot "
                   "provide the service."),
    "legal_obligation": N_("{purpose}: providing the data is a statutory requirement; without them we cannot "
                           "meet our legal obligations."),
    "consent": N_("{purpose}: providing the data is voluntary; if you do not consent, nothing else changes "
                  "for you."),
    "legitimate_interests": N_("{purpose}: you are not obliged to provide these data; we collect them while "
                               "you use the service, and you may object."),
}


@dataclass
class Block:
    kind: Literal["p", "ul", "table"]
    text: str = ""
    items: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)


@dataclass
class Section:
    key: str
    title: str
    articles: tuple[str, ...]
    blocks: list[Block] = field(default_factory=list)

    def p(self, text: str) -> None:
        self.blocks.append(Block("p", text=text))

    def ul(self, items: list[str]) -> None:
        if items:
            self.blocks.append(Block("ul", items=items))


@dataclass
class Notice:
    lang: str
    title: str
    intro: list[str]
    sections: list[Section]

    @property
    def articles(self) -> set[str]:
        return {a for s in self.sections for a in s.articles}

    def section(self, key: str) -> Section:
        return next(s for s in self.sections if s.key == key)


def _contact_line(policy: Policy) -> str:
    c = policy.controller
    return c.email or c.website or c.phone or c.address or c.name


def build_notice(policy: Policy, lang: str = "en") -> Notice:
    from pledge.policy.localize import localized

    policy = localized(policy, lang)  # the entries' own words in the reader's language
    _ = translator(lang, DOMAINS)
    c = policy.controller
    contact = _contact_line(policy)
    out: list[Section] = []

    intro = [_("This notice tells you how {controller} processes your personal data, as Articles 13 and 14 "
               "of the General Data Protection Regulation (GDPR) require.", controller=c.name)]
    if policy.effective:
        intro.append(_("Version {version}, effective from {date}.", version=policy.version,
                       date=format_date(policy.effective, "long", locale=_.lang)))
    else:
        intro.append(_("Version {version}.", version=policy.version))

    s = Section("controller", _("The controller of your data"), ("13(1)(a)", "14(1)(a)"))
    where = f", {c.address}" if c.address else ""
    s.p(_("The controller of your personal data is {name}{address}.", name=c.name, address=where))
    if c.registration:
        s.p(_("Registration details: {details}.",
              details=", ".join(f"{k} {v}" for k, v in c.registration.items())))
    ways = [w for w in (
        _("by email to {address}", address=c.email) if c.email else "",
        _("by phone at {address}", address=c.phone) if c.phone else "",
        _("by post to {address}", address=c.address) if c.address else "",
    ) if w]
    if ways:
        s.p(_("You can contact the controller {ways}.", ways=_join(ways, _)))
    if c.representative is not None:
        s.p(_("Our representative in the European Union is {name} ({contact}).",
              name=c.representative.name or "", contact=_person_contact(c.representative)))
    out.append(s)

    s = Section("dpo", _("Data protection officer"), ("13(1)(b)", "14(1)(b)"))
    if c.dpo is not None:
        s.p(_("We have appointed a data protection officer, whom you can contact at {contact}.",
              contact=_person_contact(c.dpo)))
    else:
        s.p(_("We have not appointed a data protection officer. For any question about your data, write to "
              "the controller at {contact}.", contact=contact))
    out.append(s)

    names = {k.key: k.name for k in policy.categories}
    s = Section("purposes", _("Why we process your data and on what legal basis"), ("13(1)(c)", "14(1)(c)"))
    table = Block("table", header=[_("Purpose"), _("Legal basis"), _("Categories of data")])
    for p in policy.purposes:
        basis = _(LEGAL_BASIS[p.legal_basis]) if p.legal_basis else _("not stated in the policy")
        if p.special_basis:
            basis += "; " + _special(p, _)
        table.rows.append([p.name + (f": {p.description}" if p.description else ""), basis,
                           ", ".join(names.get(k, k) for k in p.categories)])
    s.blocks.append(table)
    out.append(s)

    s = Section("interests", _("Our legitimate interests"), ("13(1)(d)", "14(2)(b)"))
    interests = [f"{p.name}: {p.legitimate_interest}" if p.legitimate_interest else
                 _("{purpose}: the interest is not described in the policy", purpose=p.name)
                 for p in policy.purposes if p.legal_basis == "legitimate_interests"]
    if interests:
        s.p(_("Where we rely on our legitimate interests, these interests are:"))
        s.ul(interests)
    else:
        s.p(_("We do not rely on legitimate interests for any purpose."))
    out.append(s)

    s = Section("categories", _("What data we process and where they come from"), ("14(1)(d)", "14(2)(f)"))
    table = Block("table", header=[_("Category of data"), _("Source")])
    for k in policy.categories:
        sources = [(_("from a third party: {party}", party=src.party) if src.kind == "third_party" and src.party
                    else _(SOURCE[src.kind])) for src in k.sources] or [_("from you")]
        label = k.name + (" " + _("(special category of data, Art. 9 GDPR)") if k.special else "")
        table.rows.append([label, "; ".join(sources)])
    s.blocks.append(table)
    out.append(s)

    s = Section("recipients", _("Who receives your data"), ("13(1)(e)", "14(1)(e)"))
    if policy.recipients:
        s.p(_("We share personal data with the following recipients:"))
        s.ul([f"{r.name}: {r.service} ({_(ROLE[r.role])})" for r in policy.recipients])
    else:
        s.p(_("We do not share your personal data with other recipients."))
    out.append(s)

    s = Section("transfers", _("Transfers outside the European Economic Area"), ("13(1)(f)", "14(1)(f)"))
    items = []
    for r in policy.recipients:
        for country in r.countries:
            if not is_third_country(country):
                continue
            guard = _(SAFEGUARD[r.transfer]) if r.transfer else _("no safeguard is stated")
            if r.transfer in INVALID_TRANSFERS:
                guard += " ⚠"
            items.append(f"{r.name}, {country_name(country, _.lang)}: {guard}")
    if items:
        s.p(_("Some recipients process data outside the European Economic Area. Each transfer is protected "
              "as follows:"))
        s.ul(items)
        s.p(_("You can obtain a copy of these safeguards by writing to {contact}.", contact=contact))
    else:
        s.p(_("We do not transfer your personal data outside the European Economic Area."))
    out.append(s)

    out.append(_retention(policy, _))
    out.append(_rights(policy, _, contact))

    s = Section("consent", _("Withdrawing consent"), ("13(2)(c)", "14(2)(d)"))
    consented = [p for p in policy.purposes if p.legal_basis == "consent" or p.consent_required
                 or p.special_basis == "explicit_consent"]
    if consented:
        s.p(_("Where we process data on the basis of your consent, you may withdraw it at any time. Withdrawal "
              "does not affect the lawfulness of processing carried out before it."))
        s.ul([f"{p.name}: " + (p.withdrawal or _("write to {contact}", contact=contact)) for p in consented])
    else:
        s.p(_("We do not process any data on the basis of consent."))
    out.append(s)

    s = Section("complaint", _("Complaints to the supervisory authority"), ("13(2)(d)", "14(2)(e)"))
    a = policy.authority
    if a is not None and a.country.upper() == "PL":
        s.p(_("You have the right to lodge a complaint with the President of the Personal Data Protection "
              "Office (UODO){address} if you believe that we process your personal data unlawfully.",
              address=f", {a.address}" if a.address else ""))
        s.p(_("You may also lodge it with the supervisory authority of the EU member state where you live or "
              "work, or where the alleged infringement took place (Article 77 GDPR)."))
    elif a is not None:
        s.p(_("You have the right to lodge a complaint with a supervisory authority, in particular in the EU "
              "member state where you live or work or where the alleged infringement took place. Our lead "
              "supervisory authority is: {authority}.",
              authority=a.name + (f" ({a.url})" if a.url else "")))
    else:
        s.p(_("You have the right to lodge a complaint with the supervisory authority of the EU member state "
              "where you live or work or where the alleged infringement took place."))
    out.append(s)

    s = Section("requirement", _("Whether you must provide your data"), ("13(2)(e)",))
    s.ul([_(REQUIREMENT[p.legal_basis], purpose=p.name) if p.legal_basis in REQUIREMENT else
          _("{purpose}: providing the data is not required by law or by contract.", purpose=p.name)
          for p in policy.purposes])
    out.append(s)

    s = Section("automated", _("Automated decision-making and profiling"), ("13(2)(f)", "14(2)(g)"))
    auto = policy.automated_decisions
    if auto is not None and auto.used:
        s.p(auto.statement)
        s.p(_("You may ask for human intervention, express your point of view and contest the decision "
              "(Art. 22(3) GDPR)."))
    else:
        s.p(_("We do not make decisions based solely on automated processing, including profiling, that "
              "produce legal effects concerning you or similarly significantly affect you."))
    out.append(s)

    if policy.age is not None:
        s = Section("children", _("Children"), ())
        s.p(_("Our service is for people aged {age} or over.", age=policy.age.minimum))
        low, high = policy.age.parental_consent_from, policy.age.parental_consent_until
        if low is not None and high is not None:
            s.p(_("People aged {low} to {high} need the consent of a parent or legal guardian.",
                  low=low, high=high - 1))
        out.append(s)

    s = Section("changes", _("Changes to this notice"), ())
    ch = policy.changes
    if ch.notice_period is not None:
        s.p(_("We will tell you about material changes to this notice at least {period} before they take "
              "effect.", period=duration_words(ch.notice_period, _.lang, "acc")))
    else:
        s.p(_("We will tell you about material changes to this notice before they take effect."))
    if ch.material_reconsent:
        s.p(_("Where a change needs your consent, we will ask for it again."))
    if ch.channels:
        s.p(_("How we tell you: {channels}.", channels=_join([_(NOTICE_CHANNEL[k]) for k in ch.channels], _)))
    out.append(s)

    return Notice(_.lang, _("Privacy notice"), intro, out)


def _join(items: list[str], _: Translator) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " " + _("or") + " " + items[-1]


def _person_contact(person: object) -> str:
    parts = [getattr(person, k) for k in ("email", "phone", "address", "url")]
    return ", ".join(p for p in parts if p)


def _special(p: Purpose, _: Translator) -> str:
    from pledge.reports.dpv import SPECIAL_BASIS

    if p.special_basis == "explicit_consent":
        return _("your explicit consent (Art. 9(2)(a) GDPR)")
    letter = SPECIAL_BASIS.get(p.special_basis or "", "A9-2-?").rsplit("-", 1)[-1]
    return _("the condition in Art. 9(2)({letter}) GDPR", letter=letter)


def _retention(policy: Policy, _: Translator) -> Section:
    s = Section("retention", _("How long we keep your data"), ("13(2)(a)", "14(2)(a)"))
    lang = _.lang
    items = []
    for rule in policy.retention:
        if rule.period is None:
            items.append(_("{name}: no fixed period; the policy says: “{vague}”", name=rule.name,
                           vague=rule.vague or "—"))
            continue
        if rule.period.approx_days == 0:
            items.append(_("{name}: the data are {action} without undue delay.", name=rule.name,
                           action=_(ACTION[rule.action])))
            continue
        column = rule.trigger.rsplit(".", 1)[-1]
        trigger = _(TRIGGER[column]) if column in TRIGGER else _(
            "counted from the date in the field {field}", field=rule.trigger)
        items.append(_("{name}: {period} {trigger}; after that the data are {action}.", name=rule.name,
                       period=duration_words(rule.period, lang), trigger=trigger, action=_(ACTION[rule.action])))
    for ex in policy.exemptions:
        items.append(_("{name}: we keep them for {period} because the law requires it ({law}).", name=ex.name,
                       period=duration_words(ex.period, lang, "acc"), law=ex.law))
    for r in policy.recipients:
        if r.retention_period is not None:
            items.append(_("{recipient} keeps the data for at most {period}.", recipient=r.name,
                           period=duration_words(r.retention_period, lang, "acc")))
        elif r.retention:
            items.append(f"{r.name}: {r.retention}")
    if policy.backups is not None:
        items.append(_("Backups are kept for {period} and then overwritten.",
                       period=duration_words(policy.backups.retention, lang, "acc")))
    if items:
        s.p(_("We keep personal data only as long as we need them:"))
        s.ul(items)
    else:
        s.p(_("We keep personal data only as long as the purposes above require."))
    return s


CHANNEL_WEB = CHANNEL["web"]


def _rights(policy: Policy, _: Translator, contact: str) -> Section:
    s = Section("rights", _("Your rights"), ("13(2)(b)", "14(2)(c)"))
    s.p(_("You have the right to:"))
    s.ul([_(RIGHT[k]) for k in RIGHT])
    channels: list[str] = []
    for right in policy.rights.offered:
        for ch in right.channels:
            address = ch.address or policy.controller.email
            if ch.kind == "email" and not address:
                continue  # no address to write to (a policy that hides it); never show a URL as one
            text = _(CHANNEL[ch.kind], address=address or contact)
            if text not in channels:
                channels.append(text)
    if not channels:
        channels = [_("by email to {address}", address=policy.controller.email) if policy.controller.email
                    else _(CHANNEL_WEB)]
    s.p(_("To exercise these rights, contact us {channels}.", channels=_join(channels, _)))
    deadline = policy.rights.promise or next((d.respond for d in policy.rights.deadlines if d.regime == "gdpr"),
                                             None)
    if deadline is not None:
        s.p(_("We answer within {period}.", period=duration_words(deadline, _.lang, "gen")))
    else:
        s.p(_("We answer within one month; in complex cases we may extend this by two further months and will "
              "tell you why."))
    return s


# -- renderers -------------------------------------------------------------------------------
def to_html(notice: Notice) -> str:
    e = html.escape
    out = [f'<article class="privacy-notice" lang="{notice.lang}">', f"<h1>{e(notice.title)}</h1>"]
    out.extend(f"<p>{e(t)}</p>" for t in notice.intro)
    for s in notice.sections:
        arts = " ".join(s.articles)
        out.append(f'<section id="{s.key}" data-gdpr="{e(arts)}"><h2>{e(s.title)}</h2>')
        for b in s.blocks:
            if b.kind == "p":
                out.append(f"<p>{e(b.text)}</p>")
            elif b.kind == "ul":
                out.append("<ul>" + "".join(f"<li>{e(i)}</li>" for i in b.items) + "</ul>")
            else:
                out.append("<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in b.header)
                           + "</tr></thead><tbody>")
                out.extend("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in b.rows)
                out.append("</tbody></table>")
        out.append("</section>")
    out.append("</article>")
    return "\n".join(out)


def to_html_page(notice: Notice) -> str:
    """A whole standalone page around :func:`to_html`."""
    return (f'<!doctype html>\n<html lang="{notice.lang}"><head><meta charset="utf-8">'
            f"<title>{html.escape(notice.title)}</title><style>body{{font:16px/1.5 system-ui,sans-serif;"
            "max-width:50rem;margin:2rem auto;padding:0 1rem}table{border-collapse:collapse}"
            "th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}</style>"
            f"</head><body>\n{to_html(notice)}\n</body></html>\n")


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(notice: Notice) -> str:
    out = [f"# {notice.title}", ""]
    for t in notice.intro:
        out.extend([t, ""])
    for s in notice.sections:
        out.extend([f"## {s.title}", ""])
        for b in s.blocks:
            if b.kind == "p":
                out.extend([b.text, ""])
            elif b.kind == "ul":
                out.extend([f"- {i}" for i in b.items] + [""])
            else:
                out.append("| " + " | ".join(_md_cell(h) for h in b.header) + " |")
                out.append("|" + "---|" * len(b.header))
                out.extend("| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows)
                out.append("")
    return "\n".join(out)


def render(policy: Policy, lang: str = "en", fmt: str = "html") -> str:
    notice = build_notice(policy, lang)
    if fmt == "html":
        return to_html_page(notice)
    if fmt == "md":
        return to_markdown(notice)
    raise ValueError(f"unknown notice format {fmt!r}; use one of {', '.join(FORMATS)}")
