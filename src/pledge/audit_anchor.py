"""Publishing the audit head outside the store: signed checkpoints in a file, and by email.

Interface::

    doc, path = write_checkpoint(engine)            # appends to the default file
    doc, path = write_checkpoint(engine, Path("/mnt/worm/pledge-checkpoints.jsonl"))
    to, sent = email_checkpoint(engine, doc)        # to the policy's privacy contact

The default file is ``<config dir>/.pledge/audit-checkpoints.jsonl``. A checkpoint only
anchors the log against someone who cannot also rewrite where it is kept: copy the file
off the host, keep it on append-only storage, or mail it (``pledge audit checkpoint
--email``). ``pledge serve``'s daily retention sweep and Celery beat's write one after
each sweep; cron can run ``pledge audit checkpoint`` more often.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from pledge.audit import AuditHeadMissing, append_checkpoint, read_checkpoints
from pledge.notify import EmailTemplate, Notifier
from pledge.store.tables.core import audit_log

if TYPE_CHECKING:
    from pledge.context import Context

FILE_NAME = "audit-checkpoints.jsonl"

AUDIT_CHECKPOINT = EmailTemplate(
    name="audit_checkpoint",
    subject="Audit checkpoint of {deployment}: entry {last_id}",
    body=(
        "This is a signed checkpoint of the audit log of {deployment}, taken at {at}: entry "
        "{last_id} has the hash {hash}.\n\n"
        "Keep this email. It lets you check later that nobody cut or rewrote the log up to "
        "this entry, even someone with access to Pledge's database. Save the line below to a "
        "file and run\n\n"
        "    pledge audit verify --checkpoint FILE\n\n"
        "{line}\n"
    ),
)


def default_path(engine: Context) -> Path:
    return engine.state_dir / FILE_NAME


def privacy_contact(engine: Context) -> str | None:
    """The policy's data protection officer's email, else the controller's."""
    ctl = engine.policy.controller
    return (ctl.dpo.email if ctl.dpo and ctl.dpo.email else None) or ctl.email


def _last_own(engine: Context, path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    for _where, doc in reversed(read_checkpoints(path)):
        if engine.audit.checkpoint_problem(doc, engine.config.name) is None:
            return dict(doc)
    return None


def write_checkpoint(engine: Context, path: Path | None = None) -> tuple[dict[str, Any], Path]:
    """Sign the current head and append it to ``path``; refuses a head behind the last checkpoint.

    Raises :class:`pledge.audit.AuditHeadMissing` when the head is gone, does not match a
    keyed entry, or the entry the file's last checkpoint names is no longer there as it was.
    """
    path = path or default_path(engine)
    doc = engine.audit.checkpoint(engine.config.name)
    last = _last_own(engine, path)
    if last is not None and last["last_id"] > 0:
        with engine.store.connect() as conn:
            held = conn.execute(select(audit_log.c.hash).where(audit_log.c.id == last["last_id"])).scalar()
        if held != last["hash"]:
            raise AuditHeadMissing(f"entry {last['last_id']} no longer matches the last checkpoint in {path} "
                                   f"({last['at']}); run `pledge audit verify --checkpoint {path}`")
    append_checkpoint(path, doc)
    return doc, path


def email_checkpoint(engine: Context, doc: dict[str, Any]) -> tuple[str, str]:
    """Mail a checkpoint to the privacy contact: (address, "sent" | "already sent" | "failed")."""
    to = privacy_contact(engine)
    if not to:
        raise ValueError("the policy names no privacy contact (controller.dpo.email or controller.email)")
    line = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    context = {"deployment": doc["deployment"], "last_id": doc["last_id"], "hash": doc["hash"], "at": doc["at"],
               "line": line}
    notifier = Notifier(engine, rate_per_second=0)
    out = notifier.send_many([(to, context)], AUDIT_CHECKPOINT, "en",
                             reference=f"audit-checkpoint:{doc['last_id']}:{doc['hash'][:16]}")
    return to, "sent" if out.sent else "already sent" if out.skipped else "failed"
