"""Attack: flood a victim's mailbox through Pledge, by making requests in their name and
asking again and again for a new code.

Before the fix nothing limited it: the same path mailed a victim 120 codes in 3 seconds.
The limits under test (pledge.ratelimit; docs/security.md), written out on purpose:
requests 3 an hour and 6 a day per email, codes sent 5 an hour and 10 a day per email, and
20 codes an hour per client address. Each request mails a receipt and a code, so a victim
gets at most 3 + 5 = 8 mails an hour and 6 + 10 = 16 in a day, however hard anyone tries.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.attacks.support import STORES, Target, served
from tests.attacks.test_code_guessing import flush_redis, limited, victims
from tests.requests_support import Clock

CREATES_PER_EMAIL_PER_HOUR, CREATES_PER_EMAIL_PER_DAY = 3, 6
CODES_PER_EMAIL_PER_HOUR, CODES_PER_EMAIL_PER_DAY = 5, 10
CODES_PER_CLIENT_PER_HOUR = 20
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def mail_kinds(target: Target, email: str) -> tuple[int, int]:
    """(receipts, codes) the sink received for ``email``."""
    mine = [m for m in target.sink.messages() if email.lower() in (r.lower() for r in m.recipients)]
    codes = [m for m in mine if "verification code" in m.subject]
    receipts = [m for m in mine if "received your request" in m.subject]
    return len(receipts), len(codes)


def flood(http: httpx.Client, email: str, rounds: int = 10) -> int:
    """Make a request in the victim's name and ask for new codes, ``rounds`` times, some of it
    in parallel. Returns how many calls a rate limit refused."""
    refused = 0
    for _ in range(rounds):
        res = http.post("/v1/requests", json={"kind": "access", "email": email})
        if res.status_code != 201:
            assert limited(res), res.text
            refused += 1
            continue
        rid = res.json()["request"]["id"]
        with ThreadPoolExecutor(4) as pool:
            again = list(pool.map(http.post, [f"/v1/requests/{rid}/resend"] * 4))
        refused += sum(limited(a) for a in again)
        assert all(a.status_code in (200, 429) for a in again), [a.text for a in again]
    return refused


@pytest.mark.parametrize("store", STORES)
def test_hammering_create_and_resend_mails_a_victim_a_few_times_only(tmp_path: Path, store: str) -> None:
    with served(tmp_path, store) as target, target.client() as http:
        victim = victims(target)[0]
        refused = flood(http, victim, rounds=15)
        with ThreadPoolExecutor(10) as pool:  # and a burst of new requests at once
            burst = list(pool.map(lambda _: http.post("/v1/requests", json={"kind": "access", "email": victim}),
                                  range(20)))
        assert all(limited(b) for b in burst)
        receipts, codes = mail_kinds(target, victim)
        assert receipts <= CREATES_PER_EMAIL_PER_HOUR and codes <= CODES_PER_EMAIL_PER_HOUR, (receipts, codes)
        assert codes >= 1 and refused > 0
        sent = target.store_rows("SELECT COUNT(*) AS n FROM verification_codes")[0]["n"]
        assert sent == codes  # nothing was issued that was not mailed, nor mailed twice


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_a_day_of_flooding_mails_at_most_the_daily_limits(tmp_path: Path, store: str) -> None:
    clock = Clock(datetime.now(UTC))
    with served(tmp_path, store, clock=clock) as target, target.client() as http:
        victim = victims(target)[0]
        per_hour: list[tuple[int, int]] = []
        for _ in range(24):
            before = mail_kinds(target, victim)
            flood(http, victim, rounds=4)
            after = mail_kinds(target, victim)
            per_hour.append((after[0] - before[0], after[1] - before[1]))
            clock.advance(hours=1, minutes=1)
        assert all(r <= CREATES_PER_EMAIL_PER_HOUR and c <= CODES_PER_EMAIL_PER_HOUR for r, c in per_hour)
        receipts, codes = mail_kinds(target, victim)
        assert receipts <= CREATES_PER_EMAIL_PER_DAY and codes <= CODES_PER_EMAIL_PER_DAY, per_hour
        # the next day the victim can use the centre again
        clock.advance(hours=1)
        assert http.post("/v1/requests", json={"kind": "access", "email": victim}).status_code == 201


@pytest.mark.parametrize("store", STORES)
def test_one_address_cannot_flood_many_mailboxes(tmp_path: Path, store: str) -> None:
    with served(tmp_path, store, users=40) as target, target.client() as http:
        people = victims(target, 30)
        answers = [http.post("/v1/requests", json={"kind": "access", "email": p},
                             headers={"X-Forwarded-For": "192.0.2.99"}) for p in people]
        assert len([a for a in answers if a.status_code == 201]) == CODES_PER_CLIENT_PER_HOUR
        assert all(limited(a) for a in answers[CODES_PER_CLIENT_PER_HOUR:])
        assert sum(mail_kinds(target, p)[1] for p in people) == CODES_PER_CLIENT_PER_HOUR


@pytest.mark.parametrize("store", STORES)
def test_the_privacy_centre_says_clearly_when_to_come_back(tmp_path: Path, store: str) -> None:
    with served(tmp_path, store) as target, target.client(headers={"Accept": "text/html"}) as http:
        victim = victims(target)[0]
        page = http.get("/privacy?lang=en")
        res = http.post("/privacy/requests", data={"csrf": CSRF.findall(page.text)[0], "kind": "access",
                                                  "email": victim})
        assert res.status_code == 303, res.text
        verify_url = res.headers["location"]
        rid = verify_url.split("/")[-2]
        last = None
        for _ in range(8):
            page = http.get(verify_url)
            last = http.post(f"/privacy/requests/{rid}/resend", data={"csrf": CSRF.findall(page.text)[0]})
            if last.status_code == 429:
                break
        assert last is not None and last.status_code == 429
        assert "Too many attempts" in last.text and "try again in" in last.text
        assert int(last.headers["retry-after"]) > 0 and 'role="alert"' in last.text
        assert mail_kinds(target, victim)[1] <= CODES_PER_EMAIL_PER_HOUR


@pytest.mark.parametrize("store", STORES)
def test_requests_refused_for_their_input_cost_nothing(tmp_path: Path, store: str) -> None:
    with served(tmp_path, store) as target, target.client() as http:
        victim = victims(target)[0]
        for _ in range(CREATES_PER_EMAIL_PER_HOUR + 2):  # a person who mistypes
            bad = http.post("/v1/requests", json={"kind": "objection", "email": victim,
                                                  "params": {"purpose": "no_such_purpose"}})
            assert bad.status_code == 422, bad.text
        made = [http.post("/v1/requests", json={"kind": "access", "email": victim}).status_code
                for _ in range(CREATES_PER_EMAIL_PER_HOUR + 1)]
        assert made == [201] * CREATES_PER_EMAIL_PER_HOUR + [429]


@pytest.mark.redis
@pytest.mark.parametrize("store", ["sqlite", "mariadb"])
def test_redis_backed_limits_stop_the_flood_the_same(tmp_path: Path, store: str) -> None:
    url = flush_redis()
    with served(tmp_path, store, redis_url=url) as target, target.client() as http:
        victim = victims(target)[0]
        refused = flood(http, victim, rounds=15)
        receipts, codes = mail_kinds(target, victim)
        assert refused > 0 and target.engine.limits.backend == "redis"
        assert receipts <= CREATES_PER_EMAIL_PER_HOUR and 1 <= codes <= CODES_PER_EMAIL_PER_HOUR
        assert target.store_rows("SELECT COUNT(*) AS n FROM rate_limits")[0]["n"] == 0
