"""A proof in words: plain text for the terminal, JSON for machines, HTML for people.

:func:`describe` words one finding with a translator (``pledge.i18n``), so the console
shows the same sentences in Polish; the text and HTML reports are English.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from jinja2 import Environment

from pledge.i18n import translator
from pledge.policy.duration import Duration
from pledge.prove.findings import KINDS, REASONS, STATUSES, Finding, Proof
from pledge.reports.words import duration_words

Words = Callable[..., str]
FORMATS = ("text", "json", "html")

#: (kind, status) -> sentence; placeholders come from the finding's count and detail
SENTENCES: dict[tuple[str, str], str] = {
    ("retention:delete", "broken"): "Rows of {collection} past {period} from {clock} (before {cutoff}) "
                                    "that still exist: {count}.",
    ("retention:delete", "kept"): "No row of {collection} is past {period} from {clock} (before {cutoff}).",
    ("retention:anonymise", "broken"): "Rows of {collection} past {period} from {clock} (before {cutoff}) "
                                       "that still hold what the rule anonymises: {count}.",
    ("retention:anonymise", "kept"): "No row of {collection} past {period} from {clock} (before {cutoff}) "
                                     "still holds what the rule anonymises.",
    ("age", "broken"): "People in {collection} born after {born_after}: {count}.",
    ("age", "kept"): "Nobody in {collection} was born after {born_after}.",
    ("parental_consent", "broken"): "People of that age in {collection}: {in_band}; without a parent's "
                                    "consent on record: {count}.",
    ("parental_consent", "kept"): "People of that age in {collection}: {in_band}; each has a parent's "
                                  "consent on record.",
    ("requests", "broken"): "Open requests: {open}; past their due date: {count}.",
    ("requests", "kept"): "Open requests: {open}; none is past its due date.",
    ("breach", "broken"): "Breaches past {hours} hours without the authority being told: {count}.",
    ("breach", "kept"): "No breach is past {hours} hours without the authority being told.",
}
SIDE: dict[str, str] = {
    "exempt": "Past the limit but kept by a legal exemption: {n}.",
    "held": "Past the limit but under a legal hold: {n}.",
    "notified_late": "Reported to the authority late: {n}.",
}
STATUS_WORDS = {"kept": "kept", "broken": "broken", "unknown": "cannot be checked on data"}


def _key(f: Finding) -> str:
    return f"retention:{f.detail.get('action', 'delete')}" if f.kind == "retention" else f.kind


def describe(f: Finding, t: Words | None = None) -> str:
    """The finding in one or two sentences (``t`` translates; English without it)."""
    t = t or translator("en")
    lang = getattr(t, "lang", "en")
    if f.status == "unknown":
        return (f.reason_text or "") if lang == "en" or f.reason is None else _reason(f, t)
    sentence = SENTENCES.get((_key(f), f.status))
    if sentence is None:
        return ""
    params: dict[str, Any] = {k: v for k, v in f.detail.items() if isinstance(v, str | int) or v is None}
    params["count"] = f.count
    if "period" in params and params["period"]:
        params["period"] = duration_words(Duration.parse(str(params["period"])), lang, "gen")
    if "cutoff" in params and params["cutoff"]:
        params["cutoff"] = str(params["cutoff"])[:16].replace("T", " ")
    parts = [t(sentence, **params)]
    for name, text in SIDE.items():
        n = f.detail.get(name)
        if isinstance(n, int) and n:
            parts.append(t(text, n=n))
    return " ".join(parts)


def _reason(f: Finding, t: Words) -> str:
    text = t(REASONS.get(str(f.reason), str(f.reason)))
    return f"{text} {f.error}" if f.error else text


def render_json(proof: Proof) -> str:
    return json.dumps(proof.as_dict(), indent=2, ensure_ascii=False, default=str) + "\n"


def render_text(proof: Proof) -> str:
    s = proof.summary
    lines = [f"Proof on live data · {proof.config} · policy {proof.policy_version} · {proof.at.isoformat()}",
             f"{s['broken']} broken, {s['kept']} kept, {s['unknown']} cannot be checked on data"
             + (f" · run #{proof.id}" if proof.id else ""), ""]
    for status in ("broken", "kept"):
        for f in proof.by_status(status):
            lines.append(f"[{status.upper():6}] {f.id}  —  {f.title}")
            lines.append(f"         {describe(f)}")
            if f.examples:
                lines.append(f"         examples: {', '.join(f.examples)}")
    groups = unknown_groups(proof)
    if groups:
        lines += ["", "Cannot be checked on data:"]
        for reason, group in groups:
            lines.append(f"  {REASONS.get(reason, reason)}")
            for f in group:
                lines.append(f"    - {f.id}" + (f": {f.error}" if f.error else ""))
    return "\n".join(lines) + "\n"


def unknown_groups(proof: Proof) -> list[tuple[str, list[Finding]]]:
    """The promises that cannot be checked, grouped by why (in the order of REASONS)."""
    unknown = proof.by_status("unknown")
    order = [*REASONS, *sorted({str(f.reason) for f in unknown} - set(REASONS))]
    out = [(r, [f for f in unknown if f.reason == r]) for r in order]
    return [(r, g) for r, g in out if g]


_HTML = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True).from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Proof on live data · {{ p.config }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem;color:#1b1f24;line-height:1.45}
.f{border:1px solid #d0d7de;border-radius:8px;padding:.75rem 1rem;margin:.75rem 0}
.broken{border-left:6px solid #cf222e}.kept{border-left:6px solid #1a7f37}.unknown{border-left:6px solid #8c959f}
.badge{border-radius:999px;padding:0 .6rem;font-size:.85rem;background:#eaeef2;white-space:nowrap}
.broken .badge{background:#ffebe9;color:#cf222e}.kept .badge{background:#dafbe1;color:#1a7f37}
blockquote{margin:.4rem 0;padding-left:.75rem;border-left:3px solid #d0d7de;color:#57606a}
code{background:#eaeef2;padding:0 .3rem;border-radius:4px;overflow-wrap:anywhere}
</style></head><body>
<h1>Proof on live data</h1>
<p>{{ p.config }} · policy {{ p.policy_version }} · {{ p.at.strftime("%Y-%m-%d %H:%M") }} UTC{% if p.id %} · run #{{ p.id }}{% endif %}</p>
<p><strong>{{ s.broken }}</strong> broken · <strong>{{ s.kept }}</strong> kept ·
<strong>{{ s.unknown }}</strong> cannot be checked on data</p>
{% for status in ("broken", "kept") %}
<h2>{{ "Broken" if status == "broken" else "Kept" }}</h2>
{% for f in p.by_status(status) %}
<section class="f {{ status }}"><h3><span class="badge">{{ words[status] }}</span> {{ f.title }}</h3>
<p>{{ describe(f) }}</p>
{% if f.examples %}<p>Examples: {% for e in f.examples %}<code>{{ e }}</code> {% endfor %}</p>{% endif %}
{% if f.source %}<blockquote>{{ f.source }}</blockquote>{% endif %}
<p><code>{{ f.id }}</code></p></section>
{% else %}<p>None.</p>{% endfor %}
{% endfor %}
<h2>Cannot be checked on data</h2>
{% for reason, group in groups %}
<section class="f unknown"><p>{{ reasons.get(reason, reason) }}</p>
<ul>{% for f in group %}<li>{{ kinds.get(f.kind, f.kind) }}: {{ f.title }}{% if f.error %} — {{ f.error }}{% endif %}</li>{% endfor %}</ul></section>
{% endfor %}
</body></html>
""")


def render_html(proof: Proof) -> str:
    return _HTML.render(p=proof, s=proof.summary, describe=describe, kinds=KINDS, words=STATUS_WORDS,
                        groups=unknown_groups(proof), reasons=REASONS)


def render(proof: Proof, fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: use one of {', '.join(FORMATS)}")
    return {"text": render_text, "json": render_json, "html": render_html}[fmt](proof)


__all__ = ["FORMATS", "SENTENCES", "SIDE", "STATUSES", "describe", "render", "render_html", "render_json",
           "render_text", "unknown_groups"]
