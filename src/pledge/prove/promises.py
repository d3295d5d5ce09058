"""Every other promise of the policy, listed as not checkable on data, with the reason.

A proof that only showed what it can count would look more complete than it is, so the
promises that rows cannot show (processors, transfers, cookies, security measures, the
notice's own statements, legal bases) are listed too, each with why. Consent purposes
are among them: the platform's databases record no individual sends or uses, so a use
after a withdrawal leaves no row; Pledge answers each use when asked (``engine.may``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pledge.prove.findings import Finding

if TYPE_CHECKING:
    from pledge.policy.model import Policy


def _unknown(id_: str, kind: str, title: str, source: str | None, reason: str, **detail: object) -> Finding:
    return Finding(id=id_, kind=kind, title=title, source=source, status="unknown", reason=reason,
                   detail=dict(detail))


def uncheckable(policy: Policy) -> list[Finding]:
    out: list[Finding] = []
    for p in policy.purposes:
        if p.consent_required or p.legal_basis == "consent":
            out.append(_unknown(f"consent:{p.key}", "consent", p.name, p.source, "consent_use",
                                purpose=p.key, withdrawal=p.withdrawal))
        else:
            out.append(_unknown(f"purpose:{p.key}", "purpose", p.name, p.source, "legal_basis",
                                purpose=p.key, basis=p.legal_basis))
    for r in policy.recipients:
        out.append(_unknown(f"recipient:{r.key}", "recipient", r.name, r.source, "recipient",
                            role=r.role, countries=list(r.countries), transfer=r.transfer,
                            retention=str(r.retention_period) if r.retention_period else None))
    for e in policy.exemptions:
        out.append(_unknown(f"exemption:{e.key}", "exemption", e.name, e.source, "exemption",
                            period=str(e.period), law=e.law))
    for right in policy.rights.offered:
        out.append(_unknown(f"right:{right.kind}", "right", right.kind.replace("_", " ").capitalize(),
                            right.source, "right", right=right.kind))
    v = policy.verification
    out.append(Finding.titled("verification", id="right:verification", kind="right", source=v.source,
                              status="unknown", reason="verification", detail={"methods": list(v.methods)}))
    for c in policy.cookies:
        out.append(_unknown(f"cookies:{c.key}", "cookies", c.name, c.source, "cookies"))
    for m in policy.security:
        out.append(_unknown(f"security:{m.key}", "security", m.description, m.source, "security"))
    out.append(_unknown("notice:controller", "notice", policy.controller.name, policy.controller.source, "notice"))
    if policy.authority is not None:
        out.append(_unknown("notice:authority", "notice", policy.authority.name, policy.authority.source,
                            "notice"))
    for s in policy.subjects:
        out.append(_unknown(f"notice:subject:{s.key}", "notice", s.name, s.source, "notice"))
    for cat in policy.categories:
        out.append(_unknown(f"notice:category:{cat.key}", "notice", cat.name, cat.source, "notice"))
    if policy.changes.source or policy.changes.channels:
        out.append(Finding.titled("changes", id="notice:changes", kind="notice", source=policy.changes.source,
                                  status="unknown", reason="notice",
                                  detail={"channels": list(policy.changes.channels)}))
    if policy.automated_decisions is not None:
        a = policy.automated_decisions
        out.append(_unknown("notice:automated_decisions", "notice", a.statement, a.source, "automated"))
    if policy.backups is not None:
        b = policy.backups
        out.append(Finding.titled("backups", id="backups", kind="notice", source=b.source, status="unknown",
                                  reason="backups", detail={"period": str(b.retention)}))
    return out
