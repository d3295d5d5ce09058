"""The JSON API for data-subject requests (``/v1/requests``), documented at ``/docs``.

People (the privacy centre, or a platform on their behalf) create and verify requests.
A request names only the requester's email (other identities come inside the platform's
signed token); the signed ``status_token`` is handed out only once the request is
verified, and the creation answer is the same whether or not the email has an account.
Machine clients send ``Authorization: Bearer plk_…`` (an API key from
``pledge admin create-api-key``) and need the scope each route names. No route returns
identities, and a download needs the signed link from the status.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field

from pledge.context import Context
from pledge.rights.delivery import DeliveryError
from pledge.rights.requests import (
    DENIAL_GROUNDS,
    KINDS,
    RequestError,
    RequestNotFound,
    RequestStateError,
    RequestView,
)
from pledge.rights.verify import VerificationError
from pledge.web.auth import BearerDep, api_key
from pledge.web.deps import EngineDep, client_address

router = APIRouter(prefix="/v1", tags=["requests"])

Kind = Literal["access", "portability", "erasure", "rectification", "restriction", "objection",
               "withdraw_consent", "ccpa_know", "ccpa_delete", "ccpa_opt_out"]
Ground = Literal["manifestly_unfounded", "identity_not_verified", "legal_obligation", "legal_claims",
                 "freedom_of_expression", "public_interest", "rights_of_others", "compelling_grounds",
                 "ccpa_unverifiable", "ccpa_exception", "ccpa_excessive"]
assert set(Kind.__args__) == set(KINDS) and set(Ground.__args__) == set(DENIAL_GROUNDS)  # type: ignore[attr-defined]


class CreateRequest(BaseModel):
    kind: Kind
    email: str = Field(min_length=3, max_length=320, description="Where answers go; also the main identity.")
    identities: dict[str, Annotated[str, Field(max_length=500)]] = Field(
        default_factory=dict, max_length=10, description=(
            "Refused when not empty: a requester proves only their email. Other identities are found from it "
            "through the data map, or the platform puts them in its signed platform_token (claim identities)."))
    params: dict[str, Any] = Field(default_factory=dict, description=(
        "Per kind: rectification {changes: {field: value}}, objection/restriction {purpose}, "
        "withdraw_consent {purposes: [...]}, ccpa_know {specific: true}."))
    lang: Literal["en", "pl"] = "en"
    platform_token: str | None = Field(default=None, max_length=4000,
                                       description="A JWT the platform signed for a signed-in user.")


class VerifyBody(BaseModel):
    code: str | None = Field(default=None, max_length=20)
    platform_token: str | None = Field(default=None, max_length=4000)


class OrgConfirmBody(BaseModel):
    token: str = Field(max_length=2000)


class DenyBody(BaseModel):
    ground: Ground
    note: str = Field(default="", max_length=2000)


class ExtendBody(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class RequestOut(BaseModel):
    id: str
    kind: str
    kind_label: str
    state: str
    regime: str
    lang: str
    source: str
    received_at: str
    due_on: str
    extended_due_on: str | None
    effective_due: str
    confirm_by: str | None
    days_left: int
    overdue: bool
    needs: list[str]
    assurance: str
    approval_needed: bool
    denial_ground: str | None
    denial_note: str | None
    extension_reason: str | None
    initiative_ground: str | None
    download_url: str | None = None


class CreatedOut(BaseModel):
    request: RequestOut
    status_token: str | None = Field(default=None, description=(
        "Given only when the request is already verified (a platform token): it opens this request's status."))


class VerifiedOut(RequestOut):
    status_token: str | None = Field(default=None, description=(
        "Once verified: keep it, it opens this request's status and download link (for a week)."))


class AckOut(BaseModel):
    acknowledged: bool


def _engine(request: Request) -> Context:
    engine: Context = request.app.state.engine
    return engine


def _out(engine: Context, view: RequestView, *, with_download: bool, anonymous: bool = False) -> RequestOut:
    data = view.as_dict()
    fields = {k: data.get(k) for k in RequestOut.model_fields if k != "download_url"}
    if anonymous:  # before verification nothing may tell whether the email belongs to an organisation
        fields["needs"] = [n for n in view.needs if n != "org_admin"]
    out = RequestOut(**fields)
    token = view.result.get("export")
    if with_download and token and view.state in ("completed", "partially_completed"):
        out.download_url = engine.requests.delivery.link(view.id, str(token), view.export_downloads)
    return out


def _fail(exc: Exception) -> HTTPException:
    if isinstance(exc, RequestNotFound):
        return HTTPException(404, "no such request")
    if isinstance(exc, VerificationError):
        return HTTPException(429 if exc.reason == "locked" else 400, str(exc))
    if isinstance(exc, RequestStateError):
        return HTTPException(409, str(exc))
    return HTTPException(422, str(exc))


def _get(engine: Context, request_id: str) -> RequestView:
    try:
        return engine.requests.get(request_id)
    except RequestError as exc:
        raise _fail(exc) from exc


#: what the rate-limited routes may answer (pledge.ratelimit; docs/security.md)
LIMITED: dict[int | str, dict[str, Any]] = {429: {"description": "Too many attempts: a rate limit (per email, per "
                                                                 "client address or overall); see Retry-After"}}


@router.post("/requests", status_code=201, response_model=CreatedOut, summary="Make a request", responses=LIMITED)
def create_request(body: CreateRequest, request: Request, engine: EngineDep, creds: BearerDep) -> CreatedOut:
    """Record a request and start identity verification (a code by email, or the platform token)."""
    key = api_key(engine, creds, "requests:write") if creds is not None else None
    # rate limits (RateLimited: 429, pledge.web.errors); a platform's server with its key makes requests
    # for many people, so only the codes it has sent count (per email and overall)
    client = None if key else client_address(request)
    if body.identities:
        raise HTTPException(422, "identities: a request names only the requester's email, which is verified; "
                                 "other identities are found from it through the data map, or the platform puts "
                                 "them in its signed platform_token (claim identities)")
    svc = engine.requests
    try:
        with engine.limits.counting("create", email=body.email, client=client, refund=RequestError, when=key is None):
            view = svc.create(body.kind, {"email": body.email}, params=body.params, lang=body.lang,
                              source="api" if key else "person", actor=f"api_key:{key.prefix}" if key else "subject")
        if body.platform_token:
            view = svc.verify_token(view.id, body.platform_token)
        else:
            view = svc.start_verification(view.id, client=client)
    except RequestError as exc:
        raise _fail(exc) from exc
    verified = view.verified_at is not None
    return CreatedOut(request=_out(engine, view, with_download=False, anonymous=not verified),
                      status_token=svc.status_token(view.id) if verified else None)


@router.post("/requests/{request_id}/verify", response_model=VerifiedOut, summary="Prove identity",
             responses=LIMITED)
def verify_request(request_id: str, body: VerifyBody, request: Request, engine: EngineDep) -> VerifiedOut:
    """Enter the emailed code, or present the platform's token for a signed-in user."""
    if not body.code and not body.platform_token:
        raise HTTPException(422, "give code or platform_token")
    try:
        if body.platform_token:
            view = engine.requests.verify_token(request_id, body.platform_token)
        else:
            view = engine.requests.verify_code(request_id, str(body.code), client=client_address(request))
    except RequestError as exc:
        raise _fail(exc) from exc
    out = VerifiedOut(**_out(engine, view, with_download=False).model_dump())
    if view.verified_at is not None:
        out.status_token = engine.requests.status_token(view.id)
    return out


@router.post("/requests/{request_id}/resend", response_model=RequestOut, summary="Send a new code",
             responses=LIMITED)
def resend_code(request_id: str, request: Request, engine: EngineDep) -> RequestOut:
    try:
        view = engine.requests.resend_code(request_id, client=client_address(request))
    except RequestError as exc:
        raise _fail(exc) from exc
    return _out(engine, view, with_download=False, anonymous=True)


@router.post("/requests/{request_id}/org-confirm", response_model=RequestOut,
             summary="An organisation's administrator confirms a member's request")
def org_confirm(request_id: str, body: OrgConfirmBody, engine: EngineDep) -> RequestOut:
    try:
        view = engine.requests.confirm_org_admin(request_id, body.token)
    except RequestError as exc:
        raise _fail(exc) from exc
    return _out(engine, view, with_download=False)


@router.get("/requests/{request_id}", response_model=RequestOut, summary="A request's status")
def request_status(request_id: str, engine: EngineDep, creds: BearerDep,
                   token: Annotated[str | None, Query(max_length=500, description="The status token")] = None
                   ) -> RequestOut:
    """For the requester with ``?token=`` (their status token), or an API key with ``requests:read``."""
    if token is not None:
        if not engine.requests.check_status_token(request_id, token):
            raise HTTPException(403, "this status link is not valid for this request")
        return _out(engine, _get(engine, request_id), with_download=True)
    key = api_key(engine, creds, "requests:read")
    return _out(engine, _get(engine, request_id), with_download=key.allows("exports:read"))


@router.get("/requests", response_model=list[RequestOut], summary="The queue, soonest due first")
def list_requests(engine: EngineDep, creds: BearerDep,
                  state: Annotated[str | None, Query(max_length=40)] = None,
                  overdue: bool | None = None) -> list[RequestOut]:
    api_key(engine, creds, "requests:read")
    try:
        views = engine.requests.find(state=state, overdue=overdue)
    except RequestError as exc:
        raise _fail(exc) from exc
    return [_out(engine, v, with_download=False) for v in views]


def _act(engine: Context, creds: HTTPAuthorizationCredentials | None, request_id: str, action: str,
         **kwargs: Any) -> RequestOut:
    key = api_key(engine, creds, "requests:approve")
    actor = f"api_key:{key.prefix}"
    svc = engine.requests
    try:
        if action == "approve":
            view = svc.approve(request_id, actor=actor)
        elif action == "run":
            view = svc.run(request_id, actor=actor)
        elif action == "deny":
            view = svc.deny(request_id, kwargs["ground"], note=kwargs["note"], actor=actor)
        else:
            view = svc.extend(request_id, kwargs["reason"], actor=actor)
    except RequestError as exc:
        raise _fail(exc) from exc
    return _out(engine, view, with_download=key.allows("exports:read"))


@router.post("/requests/{request_id}/approve", response_model=RequestOut, summary="Approve and carry out")
def approve_request(request_id: str, engine: EngineDep, creds: BearerDep) -> RequestOut:
    return _act(engine, creds, request_id, "approve")


@router.post("/requests/{request_id}/run", response_model=RequestOut, summary="Carry out, resume or re-run")
def run_request(request_id: str, engine: EngineDep, creds: BearerDep) -> RequestOut:
    return _act(engine, creds, request_id, "run")


@router.post("/requests/{request_id}/deny", response_model=RequestOut, summary="Deny on a legal ground")
def deny_request(request_id: str, body: DenyBody, engine: EngineDep, creds: BearerDep) -> RequestOut:
    return _act(engine, creds, request_id, "deny", ground=body.ground, note=body.note)


@router.post("/requests/{request_id}/extend", response_model=RequestOut, summary="Use the one extension")
def extend_request(request_id: str, body: ExtendBody, engine: EngineDep, creds: BearerDep) -> RequestOut:
    return _act(engine, creds, request_id, "extend", reason=body.reason)


@router.get("/requests/{request_id}/download", summary="Download the package (signed link)",
            response_class=Response, responses={200: {"content": {"application/zip": {}}}})
def download(request_id: str, engine: EngineDep,
             sig: Annotated[str, Query(min_length=1, max_length=500)]) -> Response:
    try:
        name, data = engine.requests.delivery.open_signed(request_id, sig)
    except DeliveryError as exc:
        raise HTTPException(410 if exc.reason in ("expired", "used", "purged") else 403, str(exc)) from exc
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "Cache-Control": "no-store"})


@router.post("/art19/ack", response_model=AckOut, summary="A recipient acknowledges an Art. 19 notice")
def art19_ack(engine: EngineDep, token: Annotated[str, Query(min_length=1, max_length=500)]) -> AckOut:
    if not engine.requests.notices.acknowledge(token):
        raise HTTPException(403, "this acknowledgement link is not valid")
    return AckOut(acknowledged=True)
