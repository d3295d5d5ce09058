"""Consent: the ledger of choices, purpose decisions, unsubscribe links."""

from pledge.consent.decisions import Decision, DecisionService
from pledge.consent.facts import PersonFacts
from pledge.consent.ledger import STATES, ConsentLedger, UnknownPurpose, consent_history

__all__ = [
    "STATES", "ConsentLedger", "Decision", "DecisionService", "PersonFacts", "UnknownPurpose",
    "consent_history",
]
