"""Retention sweeps reach the files (#16): `pledge retention run` removes the files of the rows its
clocks delete, and only those, in a folder and on SeaweedFS.

Both examples get rows planted on either side of a clock (with their files, written without
Pledge), then the sweep runs through the CLI at the moment the generators write relative to.
What must be gone is worked out from the seed's words with plain SQL on the platform's
database, and what is left is read with a listing made without Pledge (os.scandir; boto3's
list_objects_v2).

* omni-one (seed, 6.2 "Deleted Data"): "Individual conversations: Permanently deleted from our
  servers within 30 days"; "Projects: All associated data is permanently deleted within 30
  days"; "Account: All data is permanently deleted within 90 days". Uploads are content of the
  conversation they were made in (2.1 "Content You Create: Chat messages and conversations …
  Uploaded files and media"), so a file planted on a conversation deleted 31 days ago goes and
  one on a conversation deleted 29 days ago stays.
* onestepai: the only promise of its seed that deletes rows owning media by age is the closed
  account one: "We retain Personal Data related to your account for as long as you have an open
  account with us … and a reasonable period thereafter in case you decide to re-activate the
  Services", and for accounts run by an organisation "the content you have provided … will
  remain in order to allow your team members … to make full use of the Services". The seed
  names no length for "a reasonable period"; the deployment's reading is six months (PROMISES
  OS-43, flagged vague), taken here as the one number not in the seed. The seed has no clock
  for deleted media (media.deleted_at has none), so no sweep deletes a single image by age.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pledge.cli import app
from pledge.platforms import REFERENCE
from tests.blob_rights_support import BlobDeployment, cli_deployment

NOW = REFERENCE  # the generators write their rows relative to this moment
DAY = timedelta(days=1)
#: onestepai's "reasonable period thereafter": the deployment's six months (OS-43), in days either
#: side of any month arithmetic (six calendar months before NOW are 184 days)
REACTIVATION_KEPT, REACTIVATION_GONE = 180 * DAY, 188 * DAY
SIX_MONTHS_BEFORE = datetime(2026, 5, 1, tzinfo=NOW.tzinfo)

CASES = [("omni-one", "folder"), ("omni-one", "s3"), ("onestepai", "folder"), ("onestepai", "s3")]


def ts(moment: datetime) -> str:
    """A timestamp as the platform's SQLite columns hold it (text compares in time order)."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


@pytest.fixture
def dep(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[BlobDeployment]:
    yield cli_deployment(request, tmp_path, monkeypatch)


def _sweep(dep: BlobDeployment) -> dict[str, object]:
    out = CliRunner().invoke(app, ["retention", "run", "-c", str(dep.cfg), "--now", NOW.isoformat(),
                                   "--format", "json"])
    assert out.exit_code == 0, out.output
    report: dict[str, object] = json.loads(out.output)
    return report


def _plant_omni_one(dep: BlobDeployment) -> dict[str, str]:
    """Conversations deleted 31 and 29 days before NOW and one not deleted, a file on each."""
    uid, ws = dep.sql("SELECT u.id, w.id FROM users u JOIN workspaces w ON w.owner_id = u.id "
                      "WHERE u.status = 'active' ORDER BY u.id LIMIT 1")[0]
    keys: dict[str, str] = {}
    for label, deleted in (("31 days", NOW - 31 * DAY), ("29 days", NOW - 29 * DAY), ("kept", None)):
        cid = dep.insert("conversations", created_at=ts(NOW - 60 * DAY), user_id=uid, workspace_id=ws,
                         project_id=None, title=f"planted {label}", deleted_at=None if deleted is None else ts(deleted))
        fid = dep.insert("files", created_at=ts(NOW - 59 * DAY), conversation_id=cid, project_id=None, owner_id=uid,
                         filename=f"planted-{cid}.txt", size=17)
        keys[label] = f"uploads/{fid}"  # where the platform keeps a file row's upload
        dep.put(keys[label], f"planted upload {fid}\n".encode())
    return keys


def _due_omni_one(dep: BlobDeployment) -> set[str]:
    """Files the seed's three clocks remove at NOW, by plain SQL."""
    month, quarter = ts(NOW - 30 * DAY), ts(NOW - 90 * DAY)
    rows = dep.sql(
        "SELECT f.id FROM files f JOIN users u ON u.id = f.owner_id "
        "LEFT JOIN conversations c ON c.id = f.conversation_id "
        "LEFT JOIN projects cp ON cp.id = c.project_id LEFT JOIN projects p ON p.id = f.project_id "
        "WHERE c.deleted_at < ? OR cp.deleted_at < ? OR p.deleted_at < ? "
        "OR (u.status = 'closed' AND u.closed_at < ?)", month, month, month, quarter)
    return {f"uploads/{i}" for (i,) in rows}


def _plant_onestepai(dep: BlobDeployment) -> dict[str, str]:
    """Individual accounts closed 188 and 180 days before NOW, and an organisation member's closed
    188 days before, each with an uploaded image."""
    org = dep.sql("SELECT id FROM organisations ORDER BY id LIMIT 1")[0][0]
    keys: dict[str, str] = {}
    for label, closed, organisation in (("individual, 188 days", NOW - REACTIVATION_GONE, None),
                                        ("individual, 180 days", NOW - REACTIVATION_KEPT, None),
                                        ("organisation member, 188 days", NOW - REACTIVATION_GONE, org)):
        n = len(keys)
        uid = dep.insert("users", created_at=ts(NOW - 900 * DAY), organisation_id=organisation,
                         email=f"planted{n}@example.org", name=f"Planted {n}", phone=None, role="member",
                         birth_date="1990-01-01", parental_consent=None, status="closed",
                         last_login_at=ts(closed - DAY), closed_at=ts(closed))
        mid = dep.insert("media", created_at=ts(NOW - 800 * DAY), user_id=uid, filename=f"planted{n}.png",
                         uploaded_at=ts(NOW - 800 * DAY), deleted_at=None)
        keys[label] = f"media/{uid}/{mid}.png"  # where the platform keeps an image
        dep.put(keys[label], b"\x89PNG planted")
    return keys


def _due_onestepai(dep: BlobDeployment) -> set[str]:
    """Images of individual accounts closed more than six months before NOW, by plain SQL."""
    rows = dep.sql("SELECT m.user_id, m.id FROM media m JOIN users u ON u.id = m.user_id "
                   "WHERE u.status = 'closed' AND u.organisation_id IS NULL AND u.closed_at < ?",
                   ts(SIX_MONTHS_BEFORE))
    return {f"media/{u}/{i}.png" for u, i in rows}


@pytest.mark.parametrize("dep", CASES, indirect=True, ids=["-".join(c) for c in CASES])
def test_a_sweep_removes_the_files_of_expired_rows_and_only_those(dep: BlobDeployment) -> None:
    if dep.example == "omni-one":
        planted = _plant_omni_one(dep)
        due = _due_omni_one(dep)
        gone_side, kept_side = ["31 days"], ["29 days", "kept"]
    else:
        planted = _plant_onestepai(dep)
        due = _due_onestepai(dep)
        gone_side, kept_side = ["individual, 188 days"], ["individual, 180 days", "organisation member, 188 days"]
    before = dep.listing()
    assert {planted[k] for k in gone_side} <= due and not {planted[k] for k in kept_side} & due
    assert due <= set(before)  # every file the clocks remove is there to begin with
    report = _sweep(dep)
    after = dep.listing()
    assert after == {k: n for k, n in before.items() if k not in due}  # exactly those gone, the rest untouched
    files = sum(int(t["files"]) for t in report["targets"])  # type: ignore[attr-defined, index]
    assert files == len(due) and not any(t["files_pending"] for t in report["targets"])  # type: ignore[attr-defined, index]
    table = "files" if dep.example == "omni-one" else "media"
    left = {int(k.rsplit("/", 1)[1].split(".")[0]) for k in planted.values()}
    rows = {i for (i,) in dep.sql(f"SELECT id FROM {table} WHERE id IN ({','.join(map(str, left))})")}
    assert rows == {int(planted[k].rsplit("/", 1)[1].split(".")[0]) for k in kept_side}  # the rows went too
    again = _sweep(dep)  # nothing left to do
    assert dep.listing() == after and sum(int(t["files"]) for t in again["targets"]) == 0  # type: ignore[attr-defined, index]
