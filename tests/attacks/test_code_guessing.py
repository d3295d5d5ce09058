"""Attack: guess a victim's verification code, to verify a request made in their name.

Whoever verifies a request gets its status token and, for an access request, the victim's
data package. Before the fix a code was 6 digits, each code took five wrong tries, each
request three codes, and nothing limited requests per email, per client address or
overall: about 100 guesses a second from one client. On SQLite the attempt counter was
read-then-write, so 20 parallel wrong codes were counted as 2.

The limits under test (pledge.ratelimit; docs/security.md) are the documented numbers,
written out here on purpose: code checks 10 a day per email and 30 an hour per client
address; requests 3 an hour per email and 20 an hour per client address. Every test plays
the attack over real HTTP against a served Pledge on each store engine; the outcome is read
from the store with plain SQL.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.attacks.support import STORES, Target, served
from tests.services import require

CHECKS_PER_EMAIL_PER_DAY = 10
CHECKS_PER_CLIENT_PER_HOUR = 30
CREATES_PER_CLIENT_PER_HOUR = 20
MAX_ATTEMPTS = 5  # policy.verification.max_attempts of the examples
REDIS_DB = 11  # this file's own Redis database, flushed before use


def limited(res: httpx.Response) -> bool:
    """Refused by a rate limit: 429 with Retry-After and a message that says when to come back."""
    if res.status_code == 429 and "retry-after" in res.headers:
        assert int(res.headers["retry-after"]) >= 1
        assert "try again in" in res.json()["detail"]
        return True
    return False


def checked(res: httpx.Response) -> bool:
    """A guess the server compared with the code: wrong (400) or the try that locked it (429)."""
    return res.status_code == 400 or (res.status_code == 429 and not limited(res))


def victims(target: Target, n: int = 1) -> list[str]:
    rows = target.platform_rows("SELECT email FROM users ORDER BY id LIMIT :n", n=n)
    return [str(r["email"]) for r in rows]


def create(http: httpx.Client, email: str, **headers: str) -> httpx.Response:
    return http.post("/v1/requests", json={"kind": "access", "email": email, "lang": "en"}, headers=headers)


def guess(http: httpx.Client, rid: str, n: int, **headers: str) -> httpx.Response:
    return http.post(f"/v1/requests/{rid}/verify", json={"code": f"{n % 10000:04d}-{n % 10000:04d}"},
                     headers=headers)


def attempts(target: Target) -> list[dict[str, Any]]:
    return target.store_rows("SELECT c.request_id, c.attempts, c.locked_at, c.used_at, r.state, r.public_id "
                             "FROM verification_codes c JOIN requests r ON r.id = c.request_id ORDER BY c.id")


def verified(target: Target) -> list[dict[str, Any]]:
    return target.store_rows("SELECT public_id FROM requests WHERE verified_at IS NOT NULL")


def flush_redis() -> str:
    require("redis", "127.0.0.1", 6379)
    import redis

    url = f"redis://127.0.0.1:6379/{REDIS_DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


def sequential_attack(target: Target, email: str, budget: int = 80) -> tuple[int, int]:
    """Guess; when refused, ask for a new code; when that fails too, make a new request.
    ``budget`` calls in all. Returns (guesses the server checked, calls a rate limit refused)."""
    seen = refused = 0
    rid: str | None = None
    with target.client() as http:
        for n in range(1, budget + 1):
            if rid is None:
                res = create(http, email)
                if res.status_code == 201:
                    rid = res.json()["request"]["id"]
                else:
                    assert limited(res), res.text
                    refused += 1
                continue
            res = guess(http, rid, n)
            assert res.status_code != 200, "a guess verified the victim's request"
            if limited(res):
                refused += 1
                again = http.post(f"/v1/requests/{rid}/resend")  # does a fresh code reset the budget?
                refused += limited(again)
                if again.status_code != 200:
                    rid = None
            elif checked(res):
                seen += 1
                if res.status_code == 429:  # this try locked the code and denied the request
                    rid = None
            else:
                assert res.status_code == 409, res.text
                rid = None
    return seen, refused


@pytest.mark.parametrize("store", STORES)
def test_sequential_guessing_across_resends_and_new_requests_is_bounded_per_email(tmp_path: Path,
                                                                                 store: str) -> None:
    with served(tmp_path, store) as target:
        victim = victims(target)[0]
        seen, refused = sequential_attack(target, victim)
        rows = attempts(target)
        counted = sum(r["attempts"] for r in rows)
        assert verified(target) == []
        assert refused > 0, "nothing ever refused the attacker"
        assert seen <= CHECKS_PER_EMAIL_PER_DAY, f"{seen} guesses were checked for one email"
        assert counted == seen <= CHECKS_PER_EMAIL_PER_DAY
        assert all(r["attempts"] <= MAX_ATTEMPTS for r in rows)
        assert all(r["locked_at"] is not None for r in rows if r["attempts"] >= MAX_ATTEMPTS)


@pytest.mark.parametrize("store", STORES)
def test_parallel_wrong_codes_are_each_counted_and_lock_the_code(tmp_path: Path, store: str) -> None:
    with served(tmp_path, store) as target, target.client() as http:
        victim = victims(target)[0]
        res = create(http, victim)
        assert res.status_code == 201, res.text
        rid = res.json()["request"]["id"]
        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(lambda n: guess(http, rid, n), range(1, 21)))
        assert not [a for a in answers if a.status_code == 200]
        wrong = [a for a in answers if a.status_code == 400]
        locking = [a for a in answers if a.status_code == 429 and "can no longer be verified" in a.text]
        refused = [a for a in answers if limited(a)]
        (row,) = attempts(target)
        # every wrong guess the server answered as wrong was counted, and exactly one locked the code
        assert row["attempts"] == len(wrong) + len(locking) == MAX_ATTEMPTS, [a.text for a in answers]
        assert len(locking) == 1 and row["locked_at"] is not None and row["used_at"] is None
        assert row["state"] == "denied"
        # the per-email limit held under the burst: the rest were refused, not checked
        assert len(refused) == len(answers) - CHECKS_PER_EMAIL_PER_DAY
        assert verified(target) == []


@pytest.mark.parametrize("store", STORES)
def test_parallel_right_codes_verify_once(tmp_path: Path, store: str) -> None:
    with served(tmp_path, store) as target, target.client() as http:
        victim = victims(target)[0]
        res = create(http, victim)
        assert res.status_code == 201, res.text
        rid = res.json()["request"]["id"]
        code = target.code_for(victim)
        typed = [code, code.lower(), code.replace("-", " "), code.replace("-", "")]
        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(lambda n: http.post(f"/v1/requests/{rid}/verify",
                                                        json={"code": typed[n % len(typed)]}), range(20)))
        ok = [a for a in answers if a.status_code == 200]
        assert len(ok) == 1, [(a.status_code, a.text[:80]) for a in answers]
        assert len([a for a in answers if limited(a)]) == len(answers) - CHECKS_PER_EMAIL_PER_DAY
        (row,) = attempts(target)
        assert row["used_at"] is not None and row["attempts"] == 0
        proofs = target.store_rows("SELECT id FROM audit_log WHERE action = 'request.proof'")
        assert len(proofs) == 1


@pytest.mark.parametrize("store", STORES)
def test_limits_per_client_address_across_many_emails_and_per_email_across_addresses(tmp_path: Path,
                                                                                     store: str) -> None:
    with served(tmp_path, store, users=60) as target, target.client() as http:
        people = victims(target, 45)
        # one address makes requests for many people: 20 an hour, then refused
        made = [create(http, email, **{"X-Forwarded-For": "203.0.113.7"}) for email in people[:25]]
        ids = [r.json()["request"]["id"] for r in made if r.status_code == 201]
        assert len(ids) == CREATES_PER_CLIENT_PER_HOUR
        assert all(limited(r) for r in made[CREATES_PER_CLIENT_PER_HOUR:])
        # one address guesses across those requests (two guesses each, never five on one code)
        answers = [guess(http, rid, n, **{"X-Forwarded-For": "203.0.113.8"})
                   for n, rid in enumerate(ids + ids, start=1)]
        assert len([a for a in answers if checked(a)]) == CHECKS_PER_CLIENT_PER_HOUR
        assert all(limited(a) for a in answers[CHECKS_PER_CLIENT_PER_HOUR:])
        # an IPv6 client counts by its /64: new host bits in the same network do not help
        six = [guess(http, ids[i % len(ids)], 100 + i, **{"X-Forwarded-For": f"2001:db8:1:2::{i + 1:x}"})
               for i in range(CHECKS_PER_CLIENT_PER_HOUR + 3)]
        assert len([a for a in six if checked(a)]) <= CHECKS_PER_CLIENT_PER_HOUR
        assert limited(six[-1])
        # a botnet: every guess for one victim from a new address; the per-email limit holds
        victim = people[30]
        res = create(http, victim, **{"X-Forwarded-For": "198.51.100.1"})
        rid = res.json()["request"]["id"]
        spread = [guess(http, rid, n, **{"X-Forwarded-For": f"198.51.100.{n + 1}"}) for n in range(1, 16)]
        assert len([a for a in spread if checked(a) or a.status_code == 409]) <= CHECKS_PER_EMAIL_PER_DAY
        assert limited(spread[-1])
        assert verified(target) == []
        counted = target.store_rows("SELECT SUM(attempts) AS n FROM verification_codes")[0]["n"]
        assert counted == len([a for a in answers + six + spread if checked(a)])


@pytest.mark.redis
@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_redis_backed_limits_hold_the_same(tmp_path: Path, store: str) -> None:
    url = flush_redis()
    with served(tmp_path, store, redis_url=url) as target:
        victim = victims(target)[0]
        seen, refused = sequential_attack(target, victim)
        assert verified(target) == []
        assert refused > 0 and seen <= CHECKS_PER_EMAIL_PER_DAY
        assert sum(r["attempts"] for r in attempts(target)) == seen
        assert target.engine.limits.backend == "redis"
        # the counts are in Redis, not in the store
        assert target.store_rows("SELECT COUNT(*) AS n FROM rate_limits")[0]["n"] == 0
        import redis

        keys = redis.Redis.from_url(url).keys("pledge-limits:*")
        assert keys
