"""A backup restore brings an erased person's files back; `pledge ledger replay` removes them again
(#16), on SeaweedFS and in a folder, through the CLI only.

The person is erased with `pledge rights erase`; the backup (the platform's database file and
every stored file, copied without Pledge) is taken before, and put back after. `pledge prove`
then finds the person's files again, `pledge ledger replay` deletes them and says how many,
and the proof is kept once more. What must be gone is the person's files by plain SQL on the
backup; what is left is read with a listing made without Pledge."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pledge.cli import app
from pledge.platforms import REFERENCE
from tests.blob_rights_support import BlobDeployment, cli_deployment

#: the sweeps (the first, and the replay's own) run at the moment the generators write relative to
NOW = REFERENCE
CASES = [("omni-one", "s3"), ("onestepai", "folder")]  # omni-one in a folder: test_blobs_hooks.py


@pytest.fixture
def dep(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[BlobDeployment]:
    yield cli_deployment(request, tmp_path, monkeypatch)


def _cli(*args: str, codes: tuple[int, ...] = (0,)) -> Any:
    out = CliRunner().invoke(app, list(args))
    assert out.exit_code in codes, out.output
    return out


def _erased_back(dep: BlobDeployment) -> dict[str, Any]:
    out = _cli("prove", "-c", str(dep.cfg), "--now", NOW.isoformat(), "--format", "json", codes=(0, 1))
    proof = json.loads(out.output)
    found = [f for f in proof["findings"] if f["id"] == "blobs:erased"]
    assert len(found) == 1, proof["findings"]
    finding: dict[str, Any] = found[0]
    return finding


@pytest.mark.parametrize("dep", CASES, indirect=True, ids=["-".join(c) for c in CASES])
def test_restore_then_ledger_replay_removes_the_files_again(dep: BlobDeployment) -> None:
    cfg = str(dep.cfg)
    # whatever the clocks remove at NOW goes first, so that the replay's own sweep has nothing else to do
    _cli("retention", "run", "-c", cfg, "--now", NOW.isoformat(), "--format", "json")
    uid, email, _ = dep.people()[0]
    mine = dep.keys_of(uid)
    assert mine
    backup = dep.backup()
    before = dep.listing()
    erased = json.loads(_cli("rights", "erase", "-c", cfg, "--email", email, "--format", "json").output)
    assert erased["blobs"]["gone"] == len(mine) and erased["blobs"]["failed"] == 0
    assert dep.listing() == {k: n for k, n in before.items() if k not in mine}

    dep.restore(backup)  # the database and the store, as they were before the erasure
    assert dep.listing() == before and dep.keys_of(uid) == mine
    back = _erased_back(dep)
    assert back["status"] == "broken" and back["detail"]["erased_back"] == len(mine)

    since = (NOW - timedelta(hours=1)).isoformat()
    report = json.loads(_cli("ledger", "replay", "-c", cfg, "--now", NOW.isoformat(), "--since", since,
                             "--force", "--format", "json").output)
    assert report["files_deleted"] == len(mine) and report["files_pending"] == 0
    assert report["sweep"]["total_rows"] == 0
    assert dep.listing() == {k: n for k, n in before.items() if k not in mine}  # theirs gone, the rest untouched
    assert not dep.sql("SELECT 1 FROM users WHERE id = ?", uid)
    assert _erased_back(dep)["status"] == "kept"
