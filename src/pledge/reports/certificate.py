"""Erasure certificates: a signed account of what a completed erasure removed, masked and kept.

The certificate holds no personal data beyond the request id: table names, row counts,
field names with what each became (``null``, ``[redacted]``, ``hash``, ``fake``) and the links
cut, which rows were other people's (they only lost their link to the person), and for
kept rows the reason, the law and the end of the legal period. When the data map has blob
stores, ``files`` counts per store the person's files the store confirmed deleted and those
still pending (and whole folders, for a key template that names a folder per row), read from
the erasure's intents (``blob_deletions``), never their keys.
It is signed with Ed25519; the key is derived from the deployment's newest signing key
(HKDF-SHA256), and the public key travels inside the certificate so anyone can check it.
Checking against the deployment's own public keys (``expected_key``: one, or one per
signing key after a rotation) also proves who issued it.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Collection
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pledge.errors import InvalidInput

KIND = "pledge.erasure-certificate"
FORMAT_VERSION = 1


class CertificateError(InvalidInput):
    """A report that cannot be certified, or a certificate that does not verify."""


def signing_key(secret: str) -> Ed25519PrivateKey:
    seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"pledge", info=b"erasure certificate v1"
                ).derive(secret.encode("utf-8"))
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key_b64(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _entries(value: Any, kind: str) -> list[dict[str, Any]]:
    """Either report shape to a list of entries without row ids.

    Accepts ``{"table": count}`` / ``{"table": {field: strategy}}`` / ``[{table, count, reason, law}]``
    as well as the erasure engine's ``[{"collection", "rows", "reason", "fields", "detached", "kept",
    "exemption", "law", "until", "shared"}]`` (``fields``: what each field became; ``detached``:
    links set NULL; ``shared``: rows of other people that only lost their link to the person).
    """
    out: list[dict[str, Any]] = []
    if isinstance(value, dict):
        for table, v in sorted(value.items()):
            if kind == "masked" and isinstance(v, dict):
                out.append({"collection": table, "fields": {str(f): str(s) for f, s in v.items()}})
            else:
                out.append({"collection": table, "rows": int(v)})
        return out
    for item in value or []:
        entry: dict[str, Any] = {"collection": str(item.get("collection") or item.get("table") or "")}
        rows = item.get("rows", item.get("count"))
        if rows is not None:
            entry["rows"] = int(rows)
        if item.get("fields"):
            entry["fields"] = {str(f): str(s) for f, s in dict(item["fields"]).items()}
        if item.get("detached"):
            entry["detached"] = [str(c) for c in item["detached"]]
        if item.get("kept"):
            entry["kept"] = {str(f): str(why) for f, why in dict(item["kept"]).items()}
        for k in ("reason", "exemption", "law", "until"):
            if item.get(k):
                entry[k] = str(item[k])
        if item.get("shared"):
            entry["shared"] = True
        out.append(entry)
    return out


def _files(blobs: Any) -> dict[str, Any] | None:
    """The files part: per store, files the store confirmed deleted and files still pending, as
    the erasure's intents table counted them once its deletion pass was over (``report["blobs"]
    ["stores"]``, :func:`pledge.rights.blob_erasure.store_counts`); never a key (keys can name a
    person). None when the erasure had no blob stores."""
    if not isinstance(blobs, dict):
        return None
    stores = blobs.get("stores")
    if not isinstance(stores, dict):
        return None
    entries: list[dict[str, Any]] = []
    for name, c in sorted(stores.items()):
        if isinstance(c, dict):
            entry = {"store": str(name), "deleted": int(c.get("deleted", 0)), "pending": int(c.get("pending", 0))}
            entry.update({k: int(c[k]) for k in ("folders_deleted", "folders_pending") if c.get(k)})
            entries.append(entry)
    return {"stores": entries, "deleted": sum(e["deleted"] for e in entries),
            "pending": sum(e["pending"] for e in entries)}


def issue(report: dict[str, Any], secret: str, *, issued_at: datetime, controller: str = "",
          policy_version: str = "") -> dict[str, Any]:
    """Certify a completed erasure report; returns the signed certificate (JSON-able)."""
    if not report.get("request_id"):
        raise CertificateError("the erasure report has no request_id")
    if report.get("dry_run") or report.get("status") not in (None, "done"):
        raise CertificateError("only a completed erasure can be certified (this report is a plan)")
    body: dict[str, Any] = {
        "kind": KIND, "format": FORMAT_VERSION, "request_id": str(report["request_id"]),
        "issued_at": issued_at.isoformat(), "controller": controller, "policy_version": policy_version,
        "deleted": _entries(report.get("deleted"), "deleted"),
        "masked": _entries(report.get("masked"), "masked"),
        "retained": _entries(report.get("retained"), "retained"),
    }
    body["totals"] = {k: sum(int(e.get("rows", 0)) for e in body[k]) for k in ("deleted", "masked", "retained")}
    files = _files(report.get("blobs"))
    if files is not None:
        body["files"] = files
    key = signing_key(secret)
    signature = base64.b64encode(key.sign(canonical(body))).decode("ascii")
    return {"certificate": body,
            "signature": {"algorithm": "Ed25519", "public_key": public_key_b64(key), "value": signature}}


def verify(document: dict[str, Any], expected_key: str | Collection[str] | None = None) -> dict[str, Any]:
    """Check a certificate's signature; returns its body, or raises :class:`CertificateError`."""
    try:
        body = document["certificate"]
        sig = document["signature"]
        if sig.get("algorithm") != "Ed25519":
            raise CertificateError(f"unsupported signature algorithm {sig.get('algorithm')!r}")
        raw_key = base64.b64decode(sig["public_key"], validate=True)
        value = base64.b64decode(sig["value"], validate=True)
        public = Ed25519PublicKey.from_public_bytes(raw_key)
    except CertificateError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise CertificateError(f"not an erasure certificate: {exc}") from exc
    expected = {expected_key} if isinstance(expected_key, str) else expected_key
    if expected is not None and sig["public_key"] not in expected:
        raise CertificateError("signed with a different key than this deployment's")
    try:
        public.verify(value, canonical(body))
    except InvalidSignature as exc:
        raise CertificateError("the signature does not match: the certificate was altered") from exc
    if body.get("kind") != KIND:
        raise CertificateError("not an erasure certificate")
    return dict(body)


def to_html(document: dict[str, Any]) -> str:
    body = document["certificate"]
    e = html.escape
    parts = [
        '<!doctype html><html lang="en"><head><meta charset="utf-8">',
        f"<title>Erasure certificate {e(body['request_id'])}</title>",
        "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem}"
        "table{border-collapse:collapse;width:100%;margin-bottom:1.5rem}th,td{border:1px solid #ccc;"
        "padding:.3rem .5rem;text-align:left;vertical-align:top}code{word-break:break-all}</style></head><body>",
        "<h1>Erasure certificate</h1>",
        f"<p>Request <strong>{e(body['request_id'])}</strong> · issued {e(body['issued_at'])}"
        + (f" by {e(body['controller'])}" if body.get("controller") else "")
        + (f" under policy version {e(body['policy_version'])}" if body.get("policy_version") else "") + ".</p>",
        f"<p>Rows deleted: {body['totals']['deleted']} · masked: {body['totals']['masked']} · "
        f"retained: {body['totals']['retained']}.</p>",
    ]
    files = body.get("files")
    if isinstance(files, dict):
        parts.append(f"<h2>Files</h2><p>Files deleted: {int(files.get('deleted', 0))} · "
                     f"still pending: {int(files.get('pending', 0))}.</p>")
        if files.get("stores"):
            parts.append("<table><thead><tr><th>Store</th><th>Deleted</th><th>Pending</th></tr></thead><tbody>")
            parts.extend(f"<tr><td>{e(str(s['store']))}</td><td>{int(s['deleted'])}"
                         + (f" and {int(s['folders_deleted'])} folder(s)" if s.get("folders_deleted") else "")
                         + f"</td><td>{int(s['pending'])}"
                         + (f" and {int(s['folders_pending'])} folder(s)" if s.get("folders_pending") else "")
                         + "</td></tr>" for s in files["stores"])
            parts.append("</tbody></table>")
    for kind, title in (("deleted", "Erased"), ("masked", "Masked"), ("retained", "Retained, and why")):
        parts.append(f"<h2>{title}</h2>")
        if not body[kind]:
            parts.append("<p>None.</p>")
            continue
        parts.append("<table><thead><tr><th>Collection</th><th>Rows</th><th>Fields</th><th>Reason</th>"
                     "</tr></thead><tbody>")
        for entry in body[kind]:
            fields = ", ".join([f"{f} → {s}" for f, s in entry.get("fields", {}).items()]
                               + [f"{f} → null (link cut)" for f in entry.get("detached", [])]
                               + [f"{f} kept ({why})" for f, why in entry.get("kept", {}).items()])
            reason = "; ".join(x for x in (("other people's row: " if entry.get("shared") else "")
                                           + str(entry.get("reason") or ""), entry.get("law"),
                                           f"until {entry['until']}" if entry.get("until") else "") if x)
            parts.append(f"<tr><td>{e(entry['collection'])}</td><td>{entry.get('rows', '')}</td>"
                         f"<td>{e(fields)}</td><td>{e(reason)}</td></tr>")
        parts.append("</tbody></table>")
    sig = document["signature"]
    parts.append(f"<p>Signed with Ed25519. Public key: <code>{e(sig['public_key'])}</code><br>"
                 f"Signature: <code>{e(sig['value'])}</code></p>")
    parts.append("<p>Check it with <code>pledge certificate verify FILE</code>.</p></body></html>")
    return "\n".join(parts)
