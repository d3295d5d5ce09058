"""The data-map picture: systems → categories → purposes → processors → countries, as SVG.

Hand-built SVG (no graphviz): five columns of boxes joined by curves, the transfer
mechanism written on every processor → country edge (red when there is no valid
safeguard). Rows are ordered by the mean position of their neighbours to the left so
that lines cross less; long labels wrap to two lines and are cut with an ellipsis, the
full text in a tooltip; the canvas grows with the content. :func:`datamap_svg` returns
the SVG string for the CLI and the admin console alike, in English or Polish (``lang``;
the words are msgids of the ``datamap`` catalogue; names from the policy stay as written).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from pledge.datamap.model import Dataset
from pledge.i18n import Translator, translator
from pledge.policy.model import Policy
from pledge.reports.dpv import INVALID_TRANSFERS, is_third_country
from pledge.reports.links import covers, recipient_purposes, related
from pledge.reports.words import country_name

BOX_W = 210
GAP_X = 140
PAD_Y = 14
MARGIN = 24
TOP = 92
LINE = 15
CHARS = 28
COLUMNS = ("Systems", "Data categories", "Purposes", "Processors and recipients", "Countries")
COLOURS = ("#2563eb", "#7c3aed", "#059669", "#d97706", "#475569")
FILLS = ("#eff6ff", "#f5f3ff", "#ecfdf5", "#fffbeb", "#f8fafc")
BASES = {"consent": "consent", "contract": "contract", "legal_obligation": "legal obligation",
         "vital_interests": "vital interests", "public_task": "public task",
         "legitimate_interests": "legitimate interests"}
ROLES = {"processor": "processor", "controller": "controller", "joint_controller": "joint controller",
         "public_authority": "public authority", "recipient": "recipient"}
MECHANISM = {"adequacy": "adequacy", "dpf": "DPF adequacy", "scc": "SCC", "bcr": "BCR",
             "derogation": "Art. 49", "consent": "consent", "privacy_shield": "Privacy Shield ✗",
             "swiss_us_privacy_shield": "Swiss Shield ✗"}


@dataclass
class Node:
    id: str
    column: int
    label: str
    sub: str = ""
    y: float = 0.0
    height: float = 0.0
    lines: list[str] = field(default_factory=list)

    @property
    def x(self) -> float:
        return MARGIN + self.column * (BOX_W + GAP_X)

    @property
    def mid(self) -> float:
        return self.y + self.height / 2


@dataclass
class Edge:
    src: str
    dst: str
    label: str = ""
    alarm: bool = False


def wrap(text: str, width: int = CHARS, lines: int = 2) -> list[str]:
    """Words into at most ``lines`` lines of ``width`` characters; the rest cut with "…"."""
    words: list[str] = []
    for w in text.split():
        while len(w) > width and ("." in w[1:width] or "_" in w[1:width]):
            dot = w.rfind(".", 1, width)
            cut = (dot if dot > 0 else w.rfind("_", 1, width)) + 1
            words.append(w[:cut])
            w = w[cut:]
        words.append(w)
    out: list[str] = []
    current = ""
    for w in words:
        if len(w) > width:
            w = w[: width - 1] + "…"
        if not current:
            current = w
        elif current.endswith((".", "_")) and len(current) + len(w) <= width:
            current += w
        elif len(current) + 1 + len(w) <= width:
            current += " " + w
        else:
            out.append(current)
            current = w
    if current:
        out.append(current)
    if len(out) > lines:
        last = out[lines - 1]
        out = out[: lines - 1] + [(last[: width - 1] if len(last) >= width else last) + "…"]
    return out or [""]


def build_graph(policy: Policy, dataset: Dataset | None, lang: str = "en") -> tuple[list[Node], list[Edge]]:
    _ = translator(lang, ("datamap",))
    nodes: dict[str, Node] = {}
    edges: list[Edge] = []
    policy_cats = {c.key: c for c in policy.categories}

    def cat_nodes(field_cat: str) -> list[str]:
        hits = [k for k in policy_cats if covers(k, field_cat)]
        if hits:  # the most specific policy category that covers the field
            best = max(len(k) for k in hits)
            return [f"cat:{k}" for k in hits if len(k) == best]
        return [f"cat:{field_cat}"]

    for c in policy.categories:
        nodes[f"cat:{c.key}"] = Node(f"cat:{c.key}", 1, c.name, c.key + (" · Art. 9" if c.special else ""))
    for db in (dataset.databases if dataset else []):
        for coll in db.collections:
            cats = sorted({k for f in coll.fields for k in f.categories})
            if not cats:
                continue
            sid = f"sys:{db.name}.{coll.name}"
            nodes[sid] = Node(sid, 0, coll.name, f"{db.name} · " + _("{n} fields", n=len(coll.fields)))
            targets: list[str] = []
            for k in cats:
                for cid in cat_nodes(k):
                    if cid not in nodes:
                        nodes[cid] = Node(cid, 1, k, _("not named in the policy"))
                    if cid not in targets:
                        targets.append(cid)
            edges.extend(Edge(sid, t) for t in targets)
    for p in policy.purposes:
        pid = f"pur:{p.key}"
        nodes[pid] = Node(pid, 2, p.name, _(BASES[p.legal_basis]) if p.legal_basis else _("no legal basis"))
        for cid in [n for n in nodes if n.startswith("cat:")]:
            if any(related(k, cid[4:]) for k in p.categories):
                edges.append(Edge(cid, pid))
    for r in policy.recipients:
        rid = f"rec:{r.key}"
        nodes[rid] = Node(rid, 3, r.name, f"{r.service} · {_(ROLES.get(r.role, r.role))}")
        edges.extend(Edge(f"pur:{p.key}", rid) for p in recipient_purposes(r, policy))
        for country in r.countries:
            kid = f"cty:{country.upper()}"
            if kid not in nodes:
                nodes[kid] = Node(kid, 4, country_name(country, lang), country.upper() + " · "
                                  + (_("third country") if is_third_country(country) else _("EU/EEA")))
            third = is_third_country(country)
            if not third:
                label = _("within EEA")  # no third-country transfer, so no mechanism is needed
            elif r.transfer:
                label = _(MECHANISM.get(r.transfer, r.transfer))
            else:
                label = _("no safeguard")
            alarm = third and (r.transfer is None or r.transfer in INVALID_TRANSFERS)
            edges.append(Edge(rid, kid, label, alarm))
    return list(nodes.values()), edges


def layout(nodes: list[Node], edges: list[Edge]) -> tuple[float, float]:
    """Order each column by its neighbours' positions; returns the canvas width and height."""
    by_id = {n.id: n for n in nodes}
    columns: list[list[Node]] = [[n for n in nodes if n.column == c] for c in range(len(COLUMNS))]
    for n in nodes:
        n.lines = wrap(n.label)
        n.height = 12 + LINE * len(n.lines) + (12 if n.sub else 0)
    incoming: dict[str, list[str]] = {}
    for e in edges:
        incoming.setdefault(e.dst, []).append(e.src)

    def stack(col: list[Node]) -> float:
        y = float(TOP)
        for n in col:
            n.y = y
            y += n.height + PAD_Y
        return y

    stack(columns[0])
    for c in range(1, len(columns)):
        def centre(n: Node) -> float:
            srcs = [by_id[s].mid for s in incoming.get(n.id, []) if s in by_id]
            return sum(srcs) / len(srcs) if srcs else float("inf")

        columns[c].sort(key=lambda n: (centre(n), n.label.lower()))
        stack(columns[c])
    tallest = max((col[-1].y + col[-1].height for col in columns if col), default=TOP)
    for col in columns:  # centre the shorter columns
        if col:
            shift = (tallest - (col[-1].y + col[-1].height)) / 2
            for n in col:
                n.y += shift
    width = 2 * MARGIN + len(COLUMNS) * BOX_W + (len(COLUMNS) - 1) * GAP_X
    return width, tallest + 56


def datamap_svg(policy: Policy, dataset: Dataset | None, lang: str = "en") -> str:
    _: Translator = translator(lang, ("datamap",))
    nodes, edges = build_graph(policy, dataset, lang)
    width, height = layout(nodes, edges)
    by_id = {n.id: n for n in nodes}
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" '
        f'role="img" aria-labelledby="dm-title">',
        f'<title id="dm-title">{escape(_("Data map of {controller}", controller=policy.controller.name))}</title>',
        f'<rect width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>',
        f'<text x="{MARGIN}" y="30" font-size="18" font-weight="600" fill="#111827">'
        f"{escape(_('Data map: {controller}', controller=policy.controller.name))}</text>",
        f'<text x="{MARGIN}" y="50" font-size="12" fill="#4b5563">'
        + escape(_("Policy version {version} · where personal data live, why they are processed, who receives "
                   "them and where they go", version=policy.version)) + "</text>",
    ]
    for c, title in enumerate(COLUMNS):
        x = MARGIN + c * (BOX_W + GAP_X)
        count = sum(1 for n in nodes if n.column == c)
        out.append(f'<text x="{x}" y="{TOP - 12}" font-size="13" font-weight="600" fill="{COLOURS[c]}">'
                   f"{escape(_(title))} ({count})</text>")
    labels: list[str] = []
    for e in edges:
        a, b = by_id[e.src], by_id[e.dst]
        x0, y0, x1, y1 = a.x + BOX_W, a.mid, b.x, b.mid
        dx = (x1 - x0) / 2
        colour = "#dc2626" if e.alarm else COLOURS[a.column]
        out.append(f'<path d="M{x0:.1f},{y0:.1f} C{x0 + dx:.1f},{y0:.1f} {x1 - dx:.1f},{y1:.1f} {x1:.1f},{y1:.1f}" '
                   f'fill="none" stroke="{colour}" stroke-opacity="{0.85 if e.label else 0.35}" '
                   f'stroke-width="{1.6 if e.label else 1.2}"><title>{escape(a.label)} → {escape(b.label)}'
                   f"{': ' + escape(e.label) if e.label else ''}</title></path>")
        if e.label:
            mx, my = (x0 + x1) / 2, (y0 + y1) / 2
            w = 7 * len(e.label) + 10
            fg = "#b91c1c" if e.alarm else "#92400e"
            labels.append(f'<rect x="{mx - w / 2:.1f}" y="{my - 9:.1f}" width="{w}" height="17" rx="8" '
                          f'fill="#ffffff" stroke="{fg}" stroke-width="0.8"/>'
                          f'<text x="{mx:.1f}" y="{my + 4:.1f}" font-size="11" text-anchor="middle" '
                          f'fill="{fg}">{escape(e.label)}</text>')
    for n in nodes:
        c = n.column
        out.append(f'<g><title>{escape(n.label)}{" — " + escape(n.sub) if n.sub else ""}</title>'
                   f'<rect x="{n.x}" y="{n.y:.1f}" width="{BOX_W}" height="{n.height:.0f}" rx="6" '
                   f'fill="{FILLS[c]}" stroke="{COLOURS[c]}" stroke-width="1.2"/>')
        for i, line in enumerate(n.lines):
            out.append(f'<text x="{n.x + 10}" y="{n.y + 20 + i * LINE:.1f}" font-size="13" fill="#111827">'
                       f"{escape(line)}</text>")
        if n.sub:
            sub = wrap(n.sub, 34, 1)[0]
            out.append(f'<text x="{n.x + 10}" y="{n.y + 20 + len(n.lines) * LINE - 1:.1f}" font-size="10" '
                       f'fill="#6b7280">{escape(sub)}</text>')
        out.append("</g>")
    out.extend(labels)
    out.append(f'<text x="{MARGIN}" y="{height - 18:.0f}" font-size="11" fill="#4b5563">'
               + escape(_("Each processor → country line carries its transfer mechanism; red means no valid "
                          "safeguard for a third country.")) + "</text>")
    out.append("</svg>")
    return "\n".join(out)
