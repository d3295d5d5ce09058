"""The authority report: an Art. 33(3) notification drafted from the register.

Interface::

    draft = authority_report(engine, breach_id)      # a dict (the JSON form)
    render_report(draft, "md" | "html" | "json")     # the text to send or file

The draft is addressed to the supervisory authority named in the policy
(``policy.authority``: UODO for omni-one and onestepai) and carries every item Art. 33(3)
asks for, under its letter:

(a) the nature of the breach, with the categories and approximate numbers of people and
    of records concerned;
(b) the name and contact details of the DPO or another contact point;
(c) the likely consequences;
(d) the measures taken or proposed, including those to mitigate adverse effects.

It also states the timing (awareness, the 72-hour deadline, and the reasons for any
delay, Art. 33(1)), whether people were told or which exemption applied, and the phases
already sent (Art. 33(4): information may be provided in phases).
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from pledge.context import Context

FORMATS = ("md", "html", "json")

#: Words for consequences when the officer has not written their own, by category prefix.
CONSEQUENCES = (
    ("user.content", "disclosure of private content people wrote or uploaded, with possible embarrassment, "
                     "loss of confidentiality or misuse of what it reveals"),
    ("user.contact", "unwanted contact, spam and phishing aimed at the people concerned"),
    ("user.financial", "financial loss or fraud using billing or tax details"),
    ("user.authorization", "takeover of accounts using exposed credentials"),
    ("user.device", "tracking or profiling from device and network identifiers"),
    ("user.name", "identification of the people concerned"),
    ("user.demographic", "identification and profiling from demographic details"),
    ("user.biometric", "misuse of biometric data, which cannot be changed"),
)


NO_CONSEQUENCES = "limited: the exposed data does not directly identify or harm the people concerned"


def default_consequences(categories: list[str]) -> str:
    found = [text for prefix, text in CONSEQUENCES if any(c.startswith(prefix) for c in categories)]
    return "; ".join(dict.fromkeys(found)) or NO_CONSEQUENCES


def _category_names(engine: Context, keys: list[str]) -> list[str]:
    names = {c.key: c.name for c in engine.policy.categories}
    return [f"{names[k]} ({k})" if k in names else k for k in keys]


def _approx(n: int) -> str:
    """An approximate number, as Art. 33(3)(a) allows when the exact one is still open."""
    return str(n)


def authority_report(engine: Context, breach_id: int) -> dict[str, Any]:
    reg = engine.breaches
    b = reg.get(breach_id)
    clock = reg.clock(b)
    policy = engine.policy
    ctl = policy.controller
    auth = policy.authority
    dpo = ctl.dpo
    contact: dict[str, Any] = {
        "role": "data protection officer" if dpo else "contact point",
        "name": (dpo.name if dpo and dpo.name else ctl.name),
        "email": (dpo.email if dpo and dpo.email else ctl.email),
        "phone": (dpo.phone if dpo and dpo.phone else ctl.phone),
        "address": (dpo.address if dpo and dpo.address else ctl.address),
    }
    delay = None
    if clock.state in ("overdue", "late"):
        delay = ("The notification is made after the deadline; the reasons for the delay are to be stated "
                 "(Art. 33(1)).")
    return {
        "breach_id": b.id,
        "reference": f"breach:{b.id}",
        "title": b.title,
        "addressee": {"name": auth.name, "country": auth.country, "address": auth.address, "url": auth.url}
        if auth else None,
        "controller": {"name": ctl.name, "address": ctl.address, "country": ctl.country,
                       "registration": dict(ctl.registration), "email": ctl.email},
        "timing": {"aware_at": b.aware_at.isoformat(), "deadline": clock.deadline.isoformat(),
                   "hours": policy.breach.authority_hours, "state": clock.state,
                   "hours_left": clock.hours_left, "delay_reason": delay,
                   "window": [b.window_from.isoformat(), b.window_to.isoformat()]},
        "art33_3": {
            "a_nature": {
                "description": b.description or b.title,
                "collections": b.collections,
                "fields": b.fields,
                "categories": _category_names(engine, b.categories),
                "people_approx": _approx(b.people_count),
                "people": b.people_count,
                "people_without_email": b.unreachable_count,
                "records_approx": _approx(b.records_count),
                "records": b.records_count,
            },
            "b_contact": contact,
            "c_consequences": b.consequences or default_consequences(b.categories),
            "d_measures": b.measures or "to be completed in a later phase (Art. 33(4))",
        },
        "risk": {"likelihood": b.likelihood, "severity": b.severity, "level": b.risk,
                 "encrypted": b.encrypted},
        "people_notice": {"required": b.notify_people, "reason": b.people_reason, "exemption": b.exemption,
                          "notified": reg.notified_count(b.id),
                          "completed_at": b.people_notified_at.isoformat() if b.people_notified_at else None},
        "authority_notice": {"required": b.notify_authority, "reason": b.authority_reason},
        "phases": [{"kind": p["kind"], "at": p["at"].isoformat(), "note": p["note"], "actor": p["actor"]}
                   for p in reg.phases(b.id)],
    }


def _md_lines(d: dict[str, Any]) -> list[str]:
    a = d["art33_3"]["a_nature"]
    c = d["art33_3"]["b_contact"]
    t = d["timing"]
    addr = d["addressee"]
    out = [f"# Personal data breach notification — {d['title']}", ""]
    if addr:
        out += [f"**To:** {addr['name']}" + (f", {addr['address']}" if addr["address"] else ""), ""]
    else:
        out += ["**To:** (the policy names no supervisory authority)", ""]
    ctl = d["controller"]
    regs = ", ".join(f"{k} {v}" for k, v in ctl["registration"].items())
    out += [f"**Controller:** {ctl['name']}" + (f", {ctl['address']}" if ctl["address"] else "")
            + (f" ({regs})" if regs else ""), f"**Reference:** {d['reference']}", "",
            "## Timing", f"- Became aware: {t['aware_at']}", f"- Deadline ({t['hours']} hours): {t['deadline']}",
            f"- Clock: {t['state']} ({t['hours_left']} hours left)",
            f"- Exposure window: {t['window'][0]} to {t['window'][1]}"]
    if t["delay_reason"]:
        out.append(f"- Delay: {t['delay_reason']}")
    out += ["", "## (a) Nature of the breach", a["description"], "",
            f"- Data concerned: {', '.join(a['collections'])}" + (f" (fields {', '.join(a['fields'])})"
                                                                  if a["fields"] else ""),
            f"- Categories of personal data: {', '.join(a['categories']) or 'none declared'}",
            f"- People concerned (approximately): {a['people_approx']}"
            + (f", of whom {a['people_without_email']} records lead to no email address"
               if a["people_without_email"] else ""),
            f"- Personal data records concerned (approximately): {a['records_approx']}", "",
            f"## (b) Contact point ({c['role']})", f"- {c['name']}"]
    out += [f"- {k.capitalize()}: {c[k]}" for k in ("email", "phone", "address") if c.get(k)]
    out += ["", "## (c) Likely consequences", d["art33_3"]["c_consequences"], "",
            "## (d) Measures taken or proposed", d["art33_3"]["d_measures"], "",
            "## Risk and notice to people",
            f"- Likelihood {d['risk']['likelihood'] or 'not assessed'}, severity "
            f"{d['risk']['severity'] or 'not assessed'}: risk {d['risk']['level'] or 'not assessed'}",
            f"- People told: {d['people_notice']['notified']}; {d['people_notice']['reason'] or 'not decided'}"]
    if d["phases"]:
        out += ["", "## Phases sent (Art. 33(4))"]
        out += [f"- {p['at']}: {p['kind']}" + (f" — {p['note']}" if p["note"] else "") for p in d["phases"]]
    return out


def render_report(draft: dict[str, Any], fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if fmt == "json":
        return json.dumps(draft, indent=2, ensure_ascii=False, default=str) + "\n"
    lines = _md_lines(draft)
    if fmt == "md":
        return "\n".join(lines) + "\n"
    return _html(lines, draft["title"])


def _html(lines: list[str], title: str) -> str:
    """Markdown lines (headings, bullets, bold labels) to a small standalone HTML page."""
    body: list[str] = []
    in_list = False
    for line in lines:
        if line.startswith("- ") and not in_list:
            body.append("<ul>")
            in_list = True
        elif not line.startswith("- ") and in_list:
            body.append("</ul>")
            in_list = False
        text = escape(line)
        while "**" in text:
            text = text.replace("**", "<strong>", 1).replace("**", "</strong>", 1)
        if line.startswith("# "):
            body.append(f"<h1>{text[2:]}</h1>")
        elif line.startswith("## "):
            body.append(f"<h2>{text[3:]}</h2>")
        elif line.startswith("- "):
            body.append(f"<li>{text[2:]}</li>")
        elif line:
            body.append(f"<p>{text}</p>")
    if in_list:
        body.append("</ul>")
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>body{{font-family:system-ui,sans-serif;max-width:48rem;"
            "margin:2rem auto;line-height:1.5;color:#1b1b1b}h2{margin-top:1.6rem;border-bottom:1px solid #ccc}"
            "</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
