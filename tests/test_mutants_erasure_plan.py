"""Tests written for mutants of ``pledge.rights.erasure_plan`` that survived the suite (docs/mutation.md)."""

from __future__ import annotations

from pledge.datamap.model import Collection, DataField
from pledge.policy.model import Exemption
from pledge.rights.erasure_plan import exempt_strategies


def test_rows_kept_for_an_exemption_still_lose_what_it_does_not_cover() -> None:
    invoices = Collection(name="invoices", fields=[
        DataField(name="id", primary_key=True),
        DataField(name="billing_name", categories=["user.name"]),
        DataField(name="tax_id", categories=["user.financial"]),
        DataField(name="email", categories=["user.contact.email"]),          # not covered: nulled
        DataField(name="notes", categories=["user.content"], erasure="delete"),  # a field's delete is null
        DataField(name="ip", categories=["user.device.ip_address"], erasure="hmac"),  # its own strategy
        DataField(name="signature", categories=["user.name"], erasure="retain"),  # never touched
    ])
    tax = Exemption(key="tax", name="Tax", law="a tax law", period="P5Y",
                    categories=["user.name", "user.financial"], collections=["main.invoices"])
    assert exempt_strategies(invoices, ["id"], tax) == {"email": "null", "notes": "null", "ip": "hmac"}
