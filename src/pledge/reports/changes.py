"""What changed between two versions of a policy, and which changes are material.

A material change is one a person must be told about before it applies: a new purpose,
category, recipient or transfer, a changed legal basis, a shortened or lengthened
retention period, a new controller, fewer rights. Wording (names, descriptions, quoted
sources) is not material. Each change names the data categories it touches, so that a
campaign can reach exactly the people it affects (``*`` means everyone).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from pledge.datamap.model import Dataset
from pledge.policy.duration import Duration
from pledge.policy.model import Policy
from pledge.reports.links import recipient_categories, rule_categories

EVERYONE = "*"

#: Keyed lists: section → fields whose change is material (any other field is wording).
MATERIAL_FIELDS: dict[str, set[str]] = {
    "purposes": {"legal_basis", "special_basis", "categories", "subjects", "data_use", "sells_or_shares",
                 "consent_required"},
    "categories": {"special", "sources", "subjects"},
    "recipients": {"countries", "transfer", "role", "categories", "purposes", "retention_period", "no_training"},
    "retention": {"period", "trigger", "condition", "action", "categories", "collections", "exemptions"},
    "exemptions": {"period", "categories", "collections", "action", "trigger"},
    "cookies": {"purposes", "cookies", "sells_or_shares"},
    "subjects": {"is_user"},
    "security": set(),
}
#: Sections where a new entry is material, and where a removed one is.
ADDED_MATERIAL = {"purposes", "categories", "recipients", "retention", "exemptions", "cookies", "subjects"}
REMOVED_MATERIAL = {"retention", "security"}
#: In these sections any change of a list field is material; elsewhere only additions are.
ANY_LIST_CHANGE = {"retention", "exemptions"}
#: Top-level leaves that are material (dotted paths into the policy dump).
MATERIAL_LEAVES = {"controller.name", "controller.country", "age.minimum", "age.parental_consent_until",
                   "automated_decisions.used", "changes.notice_period", "backups.retention"}
WORDING = {"name", "description", "source", "note", "statement", "vague"}


@dataclass(frozen=True)
class Change:
    section: str
    key: str
    kind: str  # added | removed | changed
    field: str | None = None
    old: Any = None
    new: Any = None
    material: bool = False
    summary: str = ""
    categories: tuple[str, ...] = ()
    reconsent: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"section": self.section, "key": self.key, "kind": self.kind, "field": self.field,
                "old": self.old, "new": self.new, "material": self.material, "summary": self.summary,
                "categories": list(self.categories), "reconsent": self.reconsent}


@dataclass
class PolicyDiff:
    old_version: str
    new_version: str
    changes: list[Change] = field(default_factory=list)

    @property
    def material(self) -> list[Change]:
        return [c for c in self.changes if c.material]

    @property
    def is_material(self) -> bool:
        return any(c.material for c in self.changes)

    @property
    def reconsent(self) -> bool:
        return any(c.reconsent for c in self.changes)

    @property
    def categories(self) -> set[str]:
        return {k for c in self.material for k in c.categories}

    def as_dict(self) -> dict[str, Any]:
        return {"old_version": self.old_version, "new_version": self.new_version, "material": self.is_material,
                "reconsent": self.reconsent, "changes": [c.as_dict() for c in self.changes]}


def policy_hash(policy: Policy) -> str:
    """A stable SHA-256 of the policy's content (key order and YAML layout do not matter)."""
    body = json.dumps(policy.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _period_summary(key: str, old: Any, new: Any) -> str:
    try:
        a, b = Duration.parse(str(old)), Duration.parse(str(new))
    except ValueError:
        return f"{key}: period {old} → {new}"
    direction = "shortened" if b.approx_days < a.approx_days else "lengthened"
    return f"{key}: retention period {direction} from {a} to {b}"


def _categories_for(section: str, key: str, policy: Policy, dataset: Dataset | None) -> tuple[str, ...]:
    try:
        if section == "purposes":
            return tuple(policy.purpose(key).categories) or (EVERYONE,)
        if section == "categories":
            return (key,)
        if section == "recipients":
            r = next(r for r in policy.recipients if r.key == key)
            return tuple(recipient_categories(r, policy)) or (EVERYONE,)
        if section == "retention":
            rule = next(r for r in policy.retention if r.key == key)
            return tuple(sorted(rule_categories(rule, dataset))) or (EVERYONE,)
        if section == "exemptions":
            return tuple(policy.exemption(key).categories) or (EVERYONE,)
    except (KeyError, StopIteration):
        pass
    return (EVERYONE,)


def _consent_touched(section: str, key: str, policy: Policy) -> bool:
    consent = {p.key for p in policy.purposes if p.legal_basis == "consent" or p.consent_required}
    if section == "purposes":
        return key in consent
    if section == "recipients":
        r = next((r for r in policy.recipients if r.key == key), None)
        return r is not None and bool(set(r.purposes) & consent)
    return section == "cookies"


def diff_policies(old: Policy, new: Policy, dataset: Dataset | None = None) -> PolicyDiff:
    out = PolicyDiff(old.version, new.version)
    a, b = old.model_dump(mode="json"), new.model_dump(mode="json")
    for section, material_fields in MATERIAL_FIELDS.items():
        olds = {i["key"]: i for i in a.get(section) or []}
        news = {i["key"]: i for i in b.get(section) or []}
        for key in news.keys() - olds.keys():
            material = section in ADDED_MATERIAL
            out.changes.append(_make(section, key, "added", None, None, news[key].get("name") or key, material,
                                     f"new {section[:-1] if section.endswith('s') else section}: {key}",
                                     new, old, dataset))
        for key in olds.keys() - news.keys():
            material = section in REMOVED_MATERIAL
            out.changes.append(_make(section, key, "removed", None, olds[key].get("name") or key, None, material,
                                     f"removed from {section}: {key}", old, old, dataset))
        for key in sorted(olds.keys() & news.keys()):
            for fname in sorted(set(olds[key]) | set(news[key])):
                ov, nv = olds[key].get(fname), news[key].get(fname)
                if ov == nv:
                    continue
                material = fname in material_fields
                if material and isinstance(ov, list) and isinstance(nv, list) and section not in ANY_LIST_CHANGE:
                    material = bool(_added_items(ov, nv))
                if fname in ("period", "retention_period") and ov and nv:
                    summary = _period_summary(key, ov, nv)
                elif fname in WORDING or not material:
                    summary = f"{section}.{key}.{fname}: wording changed"
                else:
                    summary = f"{section}.{key}.{fname}: {ov} → {nv}"
                out.changes.append(_make(section, key, "changed", fname, ov, nv, material, summary, new, old,
                                         dataset))
    _diff_rights(a, b, out)
    _diff_leaves(a, b, out)
    return out


def _added_items(old: list[Any], new: list[Any]) -> list[Any]:
    return [x for x in new if x not in old]


def _make(section: str, key: str, kind: str, fname: str | None, ov: Any, nv: Any, material: bool, summary: str,
          new: Policy, old: Policy, dataset: Dataset | None) -> Change:
    cats = _categories_for(section, key, new if kind != "removed" else old, dataset)
    reconsent = material and (_consent_touched(section, key, new) or (fname == "legal_basis" and nv == "consent"))
    return Change(section, key, kind, fname, ov, nv, material, summary, cats, reconsent)


def _diff_rights(a: dict[str, Any], b: dict[str, Any], out: PolicyDiff) -> None:
    old_kinds = {r["kind"] for r in a["rights"]["offered"]}
    new_kinds = {r["kind"] for r in b["rights"]["offered"]}
    for kind in sorted(old_kinds - new_kinds):
        out.changes.append(Change("rights", kind, "removed", None, kind, None, True,
                                  f"right no longer offered: {kind}", (EVERYONE,)))
    for kind in sorted(new_kinds - old_kinds):
        out.changes.append(Change("rights", kind, "added", None, None, kind, False,
                                  f"right now offered: {kind}", (EVERYONE,)))
    if a["rights"] != b["rights"] and old_kinds == new_kinds:
        out.changes.append(Change("rights", "rights", "changed", None, None, None, False,
                                  "rights: channels, deadlines or wording changed", (EVERYONE,)))


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for k, v in value.items():
            flat.update(_flatten(v, f"{prefix}.{k}" if prefix else k))
        return flat
    return {prefix: value}


def _diff_leaves(a: dict[str, Any], b: dict[str, Any], out: PolicyDiff) -> None:
    skip = set(MATERIAL_FIELDS) | {"rights", "version", "effective"}
    fa = _flatten({k: v for k, v in a.items() if k not in skip})
    fb = _flatten({k: v for k, v in b.items() if k not in skip})
    for path in sorted(fa.keys() | fb.keys()):
        ov, nv = fa.get(path), fb.get(path)
        if ov == nv:
            continue
        material = path in MATERIAL_LEAVES
        if path == "automated_decisions.used":
            material = bool(nv)
        if path == "changes.notice_period" and ov and nv:
            material = Duration.parse(nv).approx_days < Duration.parse(ov).approx_days
        summary = f"{path}: {ov} → {nv}" if material else f"{path}: wording or detail changed"
        if path in ("controller.name", "controller.country"):
            summary = f"new controller: {ov} → {nv} (a business transfer notice is due)"
        section, _, rest = path.partition(".")
        out.changes.append(Change(section, rest or section, "changed", rest or None, ov, nv, material, summary,
                                  (EVERYONE,)))
