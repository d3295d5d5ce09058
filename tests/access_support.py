"""Access correctness against plain SQL: the ground-truth queries per example platform.

Shared by tests/test_access_platforms.py (in-process) and tests/test_celery_correctness.py
(rows fetched by Celery workers): :func:`check_access` compares what a locate function
finds with what the plain SQL joins written here find.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import create_engine, text

from pledge.engine import Engine
from pledge.rights.locate import Located

# Each query returns the ids of one table's rows about the person with email :e.
U = "(SELECT id FROM users WHERE email = :e)"
OMNI_ONE = {
    "main.users": "SELECT id FROM users WHERE email = :e",
    "main.workspaces": f"SELECT id FROM workspaces WHERE owner_id IN {U}",
    "main.memberships": f"SELECT id FROM memberships WHERE user_id IN {U}",
    "main.invitations": f"SELECT id FROM invitations WHERE invited_by IN {U} OR email = :e",
    "main.projects": f"SELECT id FROM projects WHERE owner_id IN {U}",
    "main.personas": f"SELECT id FROM personas WHERE owner_id IN {U}",
    "main.conversations": f"SELECT id FROM conversations WHERE user_id IN {U}",
    "main.messages": "SELECT m.id FROM messages m LEFT JOIN conversations c ON c.id = m.conversation_id "
                     f"WHERE c.user_id IN {U} OR m.author_id IN {U}",
    "main.files": f"SELECT id FROM files WHERE owner_id IN {U}",
    "main.token_usage": f"SELECT id FROM token_usage WHERE user_id IN {U}",
    "main.invoices": f"SELECT id FROM invoices WHERE user_id IN {U}",
    "main.marketing_preferences": f"SELECT id FROM marketing_preferences WHERE user_id IN {U}",
    "main.login_sessions": f"SELECT id FROM login_sessions WHERE user_id IN {U}",
    "main.devices": f"SELECT id FROM devices WHERE user_id IN {U}",
    "main.analytics_events": f"SELECT id FROM analytics_events WHERE user_id IN {U}",
}

A = "(SELECT id FROM accounts WHERE email = :e)"
ONETAGGER = {
    "main.accounts": "SELECT id FROM accounts WHERE email = :e",
    "main.billing_profiles": f"SELECT id FROM billing_profiles WHERE account_id IN {A}",
    "main.containers": f"SELECT id FROM containers WHERE account_id IN {A}",
    "main.comments": f"SELECT id FROM comments WHERE account_id IN {A}",
    "main.support_tickets": f"SELECT id FROM support_tickets WHERE account_id IN {A}",
    "main.chat_transcripts": f"SELECT id FROM chat_transcripts WHERE account_id IN {A} OR visitor_email = :e",
    "main.survey_answers": f"SELECT id FROM survey_answers WHERE account_id IN {A}",
    "main.payments": f"SELECT id FROM payments WHERE account_id IN {A}",
    "main.web_logs": f"SELECT id FROM web_logs WHERE account_id IN {A}",
    "main.analytics_events": f"SELECT id FROM analytics_events WHERE account_id IN {A}",
    "main.newsletter_subscriptions": f"SELECT id FROM newsletter_subscriptions WHERE account_id IN {A} "
                                     "OR email = :e",
    "main.demo_accounts": "SELECT id FROM demo_accounts WHERE email = :e",
}

MEDIA = f"(SELECT id FROM media WHERE user_id IN {U})"
ONESTEPAI = {
    "main.users": "SELECT id FROM users WHERE email = :e",
    "main.organisations": f"SELECT id FROM organisations WHERE admin_user_id IN {U}",
    "main.api_keys": f"SELECT id FROM api_keys WHERE user_id IN {U}",
    "main.media": f"SELECT id FROM media WHERE user_id IN {U}",
    "main.annotations": f"SELECT id FROM annotations WHERE user_id IN {U} OR media_id IN {MEDIA}",
    "main.face_tags": f"SELECT id FROM face_tags WHERE media_id IN {MEDIA}",
    "main.predictions": f"SELECT id FROM predictions WHERE media_id IN {MEDIA}",
    "main.invoices": f"SELECT id FROM invoices WHERE user_id IN {U}",
    "main.social_logins": f"SELECT id FROM social_logins WHERE user_id IN {U}",
    "main.marketing_contacts": f"SELECT id FROM marketing_contacts WHERE user_id IN {U} OR email = :e",
    "main.api_access_log": "SELECT id FROM api_access_log WHERE user_id IN "
                           f"{U} OR api_key_id IN (SELECT id FROM api_keys WHERE user_id IN {U})",
}

TRUTH = {"omni-one": (OMNI_ONE, "users"), "onetagger": (ONETAGGER, "accounts"),
         "onestepai": (ONESTEPAI, "users")}

def ground_truth(url: str, queries: dict[str, str], email: str) -> dict[str, set[int]]:
    eng = create_engine(url)
    try:
        with eng.connect() as conn:
            out = {k: {int(r[0]) for r in conn.execute(text(q), {"e": email})} for k, q in queries.items()}
    finally:
        eng.dispose()
    return {k: v for k, v in out.items() if v}


def people(url: str, table: str, n: int = 20, seed: int = 15) -> list[str]:
    eng = create_engine(url)
    try:
        with eng.connect() as conn:
            emails = sorted(str(r[0]) for r in conn.execute(text(f"SELECT email FROM {table}")))
    finally:
        eng.dispose()
    return random.Random(seed).sample(emails, n)


def check_access(engine: Engine, url: str, name: str, emails: Iterable[str],
                 find: Callable[[Engine, Mapping[str, Any]], Located]) -> set[str]:
    """For each email, the rows ``find`` returns are exactly the ground truth's; returns the tables seen."""
    queries, _table = TRUTH[name]
    seen: set[str] = set()
    for email in emails:
        found = find(engine, {"email": email})
        got = {k: {int(key[0]) for key in found.keys(k)} for k in found.counts()}
        assert got == ground_truth(url, queries, email), f"{name}: {email}"
        seen.update(got)
    return seen
