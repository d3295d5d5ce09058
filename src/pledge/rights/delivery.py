"""Delivering exports: encrypted at rest, handed out only through signed, expiring links.

Interface (``engine.requests.delivery`` is a :class:`Delivery`)::

    token = delivery.store(request_view, "access.zip", zip_bytes)     # encrypted file + row
    sig = delivery.sign(request_id, token)                             # for a link
    url = delivery.link(request_id, token)     # /v1/requests/<id>/download?sig=…
    name, data = delivery.open_signed(request_id, sig)   # checks signature, age, purge state
    delivery.purge()                           # removes files older than keep_days

Files live in ``<config dir>/.pledge/exports/`` as Fernet tokens (the :class:`Vault` keys,
so they rotate with identities). A link is an itsdangerous ``TimestampSigner`` signature
over ``request id``, export token and the export's download count when the link was made:
it opens that one export once (a download bumps the count, atomically, so the same link
never opens it again; the status page makes a fresh one), for ``link_days``; after
``keep_days`` the file is deleted and every link to it fails.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner
from sqlalchemy import bindparam, insert, select, update

from pledge.errors import Forbidden
from pledge.rights.vault import Vault
from pledge.store.tables.requests import request_exports
from pledge.store.tables.requests import requests as requests_table

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from pledge.context import Context
    from pledge.rights.requests import RequestView

__all__ = ["Delivery", "DeliveryError"]

#: an export's row (the INSERT built once: #19; building it cost more than running it)
_INSERT_EXPORT = insert(request_exports)
#: an export's download count, by ``:token`` (built once: #19)
_DOWNLOADS = select(request_exports.c.downloads).where(request_exports.c.token == bindparam("token"))


class DeliveryError(Forbidden, ValueError):
    """A link that does not open an export; ``reason``: bad_signature, expired, used, purged, missing."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Delivery:
    def __init__(self, engine: Context, vault: Vault, *, keep_days: int = 30, link_days: int = 7) -> None:
        self.engine = engine
        self.vault = vault
        self.keep_days = keep_days
        self.link_days = link_days
        self.folder = engine.config.base_dir / ".pledge" / "exports"
        self._signer = TimestampSigner(engine.keys.signers, salt="pledge.export.link")

    def store(self, view: RequestView, filename: str, content: bytes) -> str:
        """Encrypt ``content`` to a file and record it; returns the export token."""
        token, record = self.prepare(view, filename, content)
        with self.engine.store.begin() as conn:
            record(conn)
        return token

    def prepare(self, view: RequestView, filename: str, content: bytes) -> tuple[str, Callable[[Connection], None]]:
        """Encrypt ``content`` to a file; returns its token and the step that records it
        (run it in the caller's transaction: until it commits, no link opens the file)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        token = secrets.token_urlsafe(24)
        path = self.folder / f"{token}.bin"
        path.write_bytes(self.vault.encrypt(content))

        def record(conn: Connection) -> None:
            now = self.engine.now()
            self.engine.store.run(conn, _INSERT_EXPORT, dict(
                request_id=view.row_id, token=token, filename=filename, path=str(path), size=len(content),
                created_at=now, purge_after=now + timedelta(days=self.keep_days), downloads=0))

        return token, record

    def discard(self, token: str) -> None:
        """Delete the file :meth:`prepare` wrote for ``token`` when the transaction that was to
        record it rolled back: no row names it, so nothing would ever purge it."""
        if token and token.replace("-", "").replace("_", "").isalnum():  # a token prepare made, not a path
            (self.folder / f"{token}.bin").unlink(missing_ok=True)

    def sign(self, public_id: str, token: str, downloads: int | None = None) -> str:
        """A single-use link signature: it names the download count the export has now, read
        unless the caller knows it (``downloads``: 0 for an export it just wrote, #19)."""
        if downloads is None:
            with self.engine.store.read() as conn:  # one statement, outside a transaction (#19)
                downloads = int(conn.execute(_DOWNLOADS, {"token": token}).scalar() or 0)
        return self._signer.sign(f"{public_id}.{token}.{downloads}".encode()).decode()

    def link(self, public_id: str, token: str, downloads: int | None = None) -> str:
        return f"/v1/requests/{public_id}/download?sig={self.sign(public_id, token, downloads)}"

    def latest(self, public_id: str) -> str | None:
        """The newest unpurged export token of a request."""
        with self.engine.store.connect() as conn:
            return conn.execute(
                select(request_exports.c.token)
                .join(requests_table, requests_table.c.id == request_exports.c.request_id)
                .where(requests_table.c.public_id == public_id, request_exports.c.purged_at.is_(None))
                .order_by(request_exports.c.id.desc()).limit(1)).scalar()

    def open_signed(self, public_id: str, sig: str) -> tuple[str, bytes]:
        """The export a link points to, after checking signature, request, age and purge."""
        try:
            value = self._signer.unsign(sig, max_age=self.link_days * 86400).decode()
        except SignatureExpired as exc:
            raise DeliveryError("expired", "this download link has expired") from exc
        except BadSignature as exc:
            raise DeliveryError("bad_signature", "this download link is not valid") from exc
        rid, _, rest = value.partition(".")
        token, _, seen = rest.partition(".")
        if rid != public_id or not token or not seen.isdigit():
            raise DeliveryError("bad_signature", "this download link is for another request")
        with self.engine.store.begin() as conn:
            row = conn.execute(
                select(request_exports)
                .join(requests_table, requests_table.c.id == request_exports.c.request_id)
                .where(request_exports.c.token == token, requests_table.c.public_id == public_id)).first()
            if row is None:
                raise DeliveryError("missing", "no such export")
            if row.purged_at is not None:
                raise DeliveryError("purged", "this export was deleted after its retention period")
            used = conn.execute(update(request_exports)
                                .where(request_exports.c.id == row.id, request_exports.c.downloads == int(seen))
                                .values(downloads=request_exports.c.downloads + 1))
            if used.rowcount != 1:
                raise DeliveryError("used", "this download link was already used; open the status page for a new one")
        data = self.vault.decrypt(Path(row.path).read_bytes())
        self.engine.audit.record("request.downloaded", actor="subject", target=f"request:{public_id}",
                                 details={"export": row.id, "bytes": len(data)})
        return row.filename, data

    def purge(self, *, actor: str = "system") -> int:
        """Delete every export past its ``purge_after``; returns how many."""
        now = self.engine.now()
        with self.engine.store.begin() as conn:
            rows = conn.execute(select(request_exports.c.id, request_exports.c.path)
                                .where(request_exports.c.purged_at.is_(None),
                                       request_exports.c.purge_after <= now)).all()
            for r in rows:
                Path(r.path).unlink(missing_ok=True)
            if rows:
                conn.execute(update(request_exports).where(request_exports.c.id.in_([r.id for r in rows]))
                             .values(purged_at=now))
                self.engine.audit.record("request.exports_purged", actor=actor, target="exports",
                                         details={"count": len(rows)}, conn=conn)
        return len(rows)
