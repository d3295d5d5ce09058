"""A typed Python client for Pledge's JSON API, for the platform's own code (docs/client.md).

    from pledge.client import PledgeClient, DecisionCache

    with PledgeClient("https://privacy.example.com", api_key="plk_…") as pledge:
        made = pledge.create_request("access", "ada@example.com")
        pledge.verify_request(made.request.id, code="ABCD-1234")
        decisions = DecisionCache(pledge)
        if decisions.allowed("ada@example.com", "marketing_email"):
            ...

:class:`PledgeClient` has one method per ``/v1`` route, plus the probes (``healthz``,
``readyz``, ``metrics``). Answers are frozen pydantic models that ignore fields they do
not know, so a newer server does not break an older client. A 4xx/5xx answer raises
:class:`PledgeError` with its status and the server's ``detail``; a network failure
raises httpx's own error.

:class:`DecisionCache` answers "may I …?" from memory, in a microsecond or two: it keeps
each decision for at most ``ttl`` seconds, and at most every ``check_every`` seconds it
asks the server for the decisions version (``GET /v1/consent/version``, a 304 while
nothing changed), and forgets everything when the version moved: a withdrawal, an
objection or a restriction anywhere in Pledge reaches it within ``check_every``.

This module needs only httpx and pydantic; it imports nothing else from Pledge, so a
platform can vendor it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, TypeAdapter

from pledge import errors

__all__ = ["ActivityRecorded", "BatchDecision", "ConsentChoice", "CreatedRequest", "Decision", "DecisionCache",
           "Download", "PledgeClient", "PledgeError", "Readiness", "RequestInfo"]

USER_AGENT = "pledge-client/0.1"
_M = TypeVar("_M", bound=BaseModel)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class RequestInfo(_Model):
    """A data-subject request as the API shows it (never its identities)."""

    id: str
    kind: str
    kind_label: str = ""
    state: str
    regime: str = ""
    lang: str = "en"
    source: str = ""
    received_at: str = ""
    due_on: str = ""
    extended_due_on: str | None = None
    effective_due: str = ""
    confirm_by: str | None = None
    days_left: int = 0
    overdue: bool = False
    needs: list[str] = []
    assurance: str = ""
    approval_needed: bool = False
    denial_ground: str | None = None
    denial_note: str | None = None
    extension_reason: str | None = None
    initiative_ground: str | None = None
    #: the signed download link, once the package is ready (for a caller allowed to see it)
    download_url: str | None = None
    #: after verification: the requester's status token (it opens status and download)
    status_token: str | None = None


class CreatedRequest(_Model):
    request: RequestInfo
    status_token: str | None = None


class Decision(_Model):
    allowed: bool
    reason: str
    code: str


class BatchDecision(Decision):
    subject: str
    purpose: str


class ConsentChoice(_Model):
    purpose: str
    state: str


class ActivityRecorded(_Model):
    recorded: bool
    column: str
    at: str


class Readiness(_Model):
    ready: bool
    status: str
    checks: dict[str, str]
    failing: list[str] = []


class Download(_Model):
    filename: str
    content: bytes
    media_type: str


class PledgeError(errors.PledgeError):  # under Pledge's one root (pledge.errors)
    """The server refused: ``status`` (401 no key, 403 scope, 404, 409 state, 422 input,
    429 rate limit with ``retry_after``), ``detail`` as it said it."""

    def __init__(self, status: int, detail: Any, *, method: str = "", path: str = "",
                 retry_after: float | None = None) -> None:
        self.status = status
        self.detail = detail
        self.method = method
        self.path = path
        self.retry_after = retry_after
        super().__init__(f"{method} {path}: {status} {detail}".strip())


_REQUESTS = TypeAdapter(list[RequestInfo])
_BATCH = TypeAdapter(list[BatchDecision])
_CHOICES = TypeAdapter(list[ConsentChoice])
Gpc = bool | None


class PledgeClient:
    """One Pledge server, one API key (its scopes decide what the calls may do)."""

    def __init__(self, base_url: str, api_key: str | None = None, *, timeout: float = 10.0,
                 http: httpx.Client | None = None) -> None:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._own = http is None
        self.http = http or httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)
        self.http.headers.update(headers)
        if http is not None and not str(http.base_url):
            self.http.base_url = httpx.URL(base_url.rstrip("/"))

    def __enter__(self) -> PledgeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._own:
            self.http.close()

    # -- plumbing --------------------------------------------------------------------------------
    def _call(self, method: str, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None,
              headers: Mapping[str, str] | None = None, ok: tuple[int, ...] = (200, 201)) -> httpx.Response:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        res = self.http.request(method, path, json=json, params=query or None, headers=headers)
        if res.status_code not in ok:
            raise _error(res, method, path)
        return res

    def _model(self, model: type[_M], res: httpx.Response) -> _M:
        return model.model_validate(res.json())

    # -- data-subject requests ----------------------------------------------------------------------
    def create_request(self, kind: str, email: str, *, params: Mapping[str, Any] | None = None,
                       lang: Literal["en", "pl"] = "en", platform_token: str | None = None) -> CreatedRequest:
        """``POST /v1/requests``: a code goes to ``email`` (or ``platform_token`` verifies at once)."""
        body: dict[str, Any] = {"kind": kind, "email": email, "params": dict(params or {}), "lang": lang}
        if platform_token:
            body["platform_token"] = platform_token
        return self._model(CreatedRequest, self._call("POST", "/v1/requests", json=body))

    def verify_request(self, request_id: str, *, code: str | None = None,
                       platform_token: str | None = None) -> RequestInfo:
        """``POST /v1/requests/{id}/verify`` with the emailed code or the platform's token."""
        body = {k: v for k, v in (("code", code), ("platform_token", platform_token)) if v is not None}
        return self._model(RequestInfo, self._call("POST", f"/v1/requests/{request_id}/verify", json=body))

    def resend_code(self, request_id: str) -> RequestInfo:
        return self._model(RequestInfo, self._call("POST", f"/v1/requests/{request_id}/resend"))

    def org_confirm(self, request_id: str, token: str) -> RequestInfo:
        """An organisation administrator's confirmation of a member's request."""
        return self._model(RequestInfo, self._call("POST", f"/v1/requests/{request_id}/org-confirm",
                                                   json={"token": token}))

    def request_status(self, request_id: str, *, token: str | None = None) -> RequestInfo:
        """With the requester's status ``token``, or the key's ``requests:read``."""
        return self._model(RequestInfo, self._call("GET", f"/v1/requests/{request_id}", params={"token": token}))

    def list_requests(self, *, state: str | None = None, overdue: bool | None = None) -> list[RequestInfo]:
        params = {"state": state, "overdue": None if overdue is None else str(overdue).lower()}
        return _REQUESTS.validate_python(self._call("GET", "/v1/requests", params=params).json())

    def approve_request(self, request_id: str) -> RequestInfo:
        return self._model(RequestInfo, self._call("POST", f"/v1/requests/{request_id}/approve"))

    def run_request(self, request_id: str) -> RequestInfo:
        return self._model(RequestInfo, self._call("POST", f"/v1/requests/{request_id}/run"))

    def deny_request(self, request_id: str, ground: str, note: str = "") -> RequestInfo:
        return self._model(RequestInfo, self._call("POST", f"/v1/requests/{request_id}/deny",
                                                   json={"ground": ground, "note": note}))

    def extend_request(self, request_id: str, reason: str) -> RequestInfo:
        return self._model(RequestInfo, self._call("POST", f"/v1/requests/{request_id}/extend",
                                                   json={"reason": reason}))

    def download(self, link: str) -> Download:
        """The package behind a request's signed ``download_url`` (relative or absolute: the
        path and signature are sent to this client's server)."""
        parts = urlsplit(link)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        res = self._call("GET", path, headers={"Accept": "application/zip"})
        disposition = res.headers.get("content-disposition", "")
        name = disposition.split("filename=", 1)[1].strip('"') if "filename=" in disposition else "package.zip"
        return Download(filename=name, content=res.content,
                        media_type=res.headers.get("content-type", "application/octet-stream"))

    def art19_ack(self, token: str) -> bool:
        """A recipient acknowledges an Art. 19 notice (the token from its link)."""
        return bool(self._call("POST", "/v1/art19/ack", params={"token": token}).json()["acknowledged"])

    # -- consent and decisions ------------------------------------------------------------------------
    def decision(self, subject: str, purpose: str, *, gpc: Gpc = None) -> Decision:
        """``GET /v1/decisions``: may ``purpose`` be carried out for this person now?"""
        headers = {"Sec-GPC": "1"} if gpc else None
        res = self._call("GET", "/v1/decisions", params={"subject": subject, "purpose": purpose}, headers=headers)
        return self._model(Decision, res)

    def decisions(self, items: Iterable[tuple[str, str]], *, gpc: Gpc = None) -> list[BatchDecision]:
        """``POST /v1/decisions/batch``: up to 1,000 (subject, purpose) pairs, answered in order."""
        body: dict[str, Any] = {"items": [{"subject": s, "purpose": p} for s, p in items]}
        if gpc is not None:
            body["gpc"] = gpc
        return _BATCH.validate_python(self._call("POST", "/v1/decisions/batch", json=body).json()["results"])

    def record_consent(self, subject: str | None = None, purpose: str | None = None, state: str | None = None, *,
                       token: str | None = None, choices: Mapping[str, bool] | None = None,
                       notice_version: str | None = None, method: str = "api", channel: str = "api",
                       gpc: Gpc = None) -> list[ConsentChoice]:
        """``POST /v1/consent``: a person's choice (``given``, ``withdrawn`` or ``refused``) for
        a purpose, or cookie ``choices``; the person named by ``subject`` (an email; the key
        needs ``consent:write``) or by their signed preference ``token``."""
        body: dict[str, Any] = {"method": method, "channel": channel}
        for key, value in (("subject", subject), ("token", token), ("purpose", purpose), ("state", state),
                           ("notice_version", notice_version), ("gpc", gpc)):
            if value is not None:
                body[key] = value
        if choices is not None:
            body["choices"] = dict(choices)
        return _CHOICES.validate_python(self._call("POST", "/v1/consent", json=body).json()["recorded"])

    def consent_config(self) -> dict[str, Any]:
        """The cookie banner's categories, notice version and texts."""
        out: dict[str, Any] = self._call("GET", "/v1/consent/config").json()
        return out

    def consent_version(self, known: str | None = None) -> str | None:
        """The decisions version; with ``known`` (a version seen before), None while it is current."""
        headers = {"If-None-Match": f'"{known}"'} if known else None
        res = self._call("GET", "/v1/consent/version", headers=headers, ok=(200, 304))
        return None if res.status_code == 304 else str(res.json()["version"])

    # -- the platform's own facts ------------------------------------------------------------------------
    def record_activity(self, *, email: str | None = None, user_id: int | None = None,
                        at: datetime | None = None) -> ActivityRecorded:
        """``POST /v1/activity``: the person was active (restarts the inactivity clock)."""
        body: dict[str, Any] = {}
        if email is not None:
            body["email"] = email
        if user_id is not None:
            body["user_id"] = user_id
        if at is not None:
            body["at"] = at.isoformat()
        return self._model(ActivityRecorded, self._call("POST", "/v1/activity", json=body))

    # -- operations ---------------------------------------------------------------------------------------
    def healthz(self) -> bool:
        return self.http.get("/healthz").status_code == 200

    def readyz(self) -> Readiness:
        res = self._call("GET", "/readyz", ok=(200, 503))
        data = res.json()
        return Readiness(ready=res.status_code == 200, status=data.get("status", ""),
                         checks=data.get("checks", {}), failing=data.get("failing", []))

    def metrics(self) -> str:
        """The Prometheus text (from the server's host, or with a ``metrics:read`` key)."""
        return self._call("GET", "/metrics", headers={"Accept": "text/plain"}).text


def _error(res: httpx.Response, method: str, path: str) -> PledgeError:
    try:
        detail: Any = res.json().get("detail", res.text)
    except ValueError:
        detail = res.text[:500]
    retry = res.headers.get("retry-after")
    try:
        retry_after = float(retry) if retry is not None else None
    except ValueError:
        retry_after = None
    return PledgeError(res.status_code, detail, method=method, path=path.split("?", 1)[0], retry_after=retry_after)


class DecisionCache:
    """Decisions from memory, dropped when the server's decisions version moves.

    ``may()`` costs a dict lookup while the entry is younger than ``ttl`` and the version
    was checked less than ``check_every`` seconds ago; otherwise it asks the server first
    (the version, a 304 while nothing changed, then the decision on a miss). Safe to
    share between threads."""

    def __init__(self, client: PledgeClient, *, ttl: float = 60.0, check_every: float = 1.0,
                 max_entries: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.ttl = ttl
        self.check_every = check_every
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[tuple[str, str, Gpc], tuple[Decision, float]] = {}
        self._version: str | None = None
        self._next_check = float("-inf")
        self._lock = threading.Lock()
        #: server round trips: version checks and decisions fetched (for tests and tuning)
        self.checks = 0
        self.fetches = 0

    @property
    def version(self) -> str | None:
        return self._version

    def may(self, subject: str, purpose: str, *, gpc: Gpc = None) -> Decision:
        now = self._clock()
        if now >= self._next_check:
            self._check(now)
        key = (subject.strip().lower(), purpose, gpc)
        hit = self._entries.get(key)
        if hit is not None and hit[1] > now:
            return hit[0]
        decision = self.client.decision(subject, purpose, gpc=gpc)
        self.fetches += 1
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (decision, now + self.ttl)
        return decision

    def allowed(self, subject: str, purpose: str, *, gpc: Gpc = None) -> bool:
        return self.may(subject, purpose, gpc=gpc).allowed

    def clear(self) -> None:
        self._entries.clear()
        self._next_check = float("-inf")

    def _check(self, now: float) -> None:
        with self._lock:
            if now < self._next_check:
                return  # another thread checked meanwhile
            latest = self.client.consent_version(self._version)
            self.checks += 1
            if latest is not None and latest != self._version:
                self._entries.clear()
                self._version = latest
            self._next_check = now + self.check_every
