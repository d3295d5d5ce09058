"""How the policy and the data map connect: systems, categories, purposes, recipients.

fideslang keys are hierarchical, so a purpose that names ``user.contact`` covers a field
tagged ``user.contact.email``. Every report draws its lines with these helpers, so the
RoPA, the notice and the picture agree.
"""

from __future__ import annotations

from pledge.datamap.model import Dataset
from pledge.policy.model import Policy, Purpose, Recipient, RetentionRule


def covers(general: str, specific: str) -> bool:
    """``user.contact`` covers ``user.contact.email``; a key covers itself."""
    return specific == general or specific.startswith(general + ".")


def related(a: str, b: str) -> bool:
    return covers(a, b) or covers(b, a)


def any_related(keys: list[str] | set[str], others: list[str] | set[str]) -> bool:
    return any(related(a, b) for a in keys for b in others)


def collection_categories(dataset: Dataset) -> dict[str, set[str]]:
    """``db.collection`` → the categories of its fields."""
    out: dict[str, set[str]] = {}
    for db in dataset.databases:
        for coll in db.collections:
            cats = {c for f in coll.fields for c in f.categories}
            out[f"{db.name}.{coll.name}"] = cats
    return out


def systems_for(categories: list[str] | set[str], dataset: Dataset) -> list[str]:
    """The ``db.collection`` names that hold any of these categories."""
    return [name for name, cats in collection_categories(dataset).items() if any_related(categories, cats)]


def recipient_purposes(recipient: Recipient, policy: Policy) -> list[Purpose]:
    """The purposes a recipient serves: named, or else sharing a category."""
    if recipient.purposes:
        return [p for p in policy.purposes if p.key in recipient.purposes]
    if recipient.categories:
        return [p for p in policy.purposes if any_related(recipient.categories, p.categories)]
    return []


def purpose_recipients(purpose: Purpose, policy: Policy) -> list[Recipient]:
    return [r for r in policy.recipients if purpose in recipient_purposes(r, policy)]


def recipient_categories(recipient: Recipient, policy: Policy) -> list[str]:
    if recipient.categories:
        return list(recipient.categories)
    seen: list[str] = []
    for p in recipient_purposes(recipient, policy):
        seen.extend(c for c in p.categories if c not in seen)
    return seen


def rule_categories(rule: RetentionRule, dataset: Dataset | None) -> set[str]:
    """A rule's categories: its own, plus those of its collections in the data map."""
    cats = set(rule.categories)
    if dataset is not None and rule.collections:
        by_coll = collection_categories(dataset)
        for name in rule.collections:
            key = name if name.count(".") == 1 else next(
                (k for k in by_coll if k.split(".", 1)[1] == name), name)
            cats |= by_coll.get(key, set())
    return cats


def purpose_retention(purpose: Purpose, policy: Policy, dataset: Dataset | None) -> list[RetentionRule]:
    return [r for r in policy.retention if any_related(purpose.categories, rule_categories(r, dataset))]
