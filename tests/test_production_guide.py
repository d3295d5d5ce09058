"""The production guide (docs/production.md) and the files it installs (deploy/), run for real.

The guide's commands are its console lines ``$ sudo pledge-ctl …``; the files are under
``deploy/`` and the guide shows each through a ``--8<--`` include.

* Without services: every file under ``deploy/`` is shown in the guide; every ``pledge``
  command of the guide and of the units parses against the real CLI (no invented option);
  the environment file reads the same to systemd and to the shell. A test of its own runs
  ``systemd-analyze verify`` on the units (skipped where it is not installed).
* On the real PostgreSQL and Redis (under CI a missing one fails, as in tests/services.py):
  the host of the guide is rebuilt in a temporary folder. ``/srv/pledge``, ``/etc/pledge``,
  the virtual environment's path and the ports are the only things replaced, in the guide's
  commands, the units, the environment file, the wrapper and the nginx site alike; the
  environment file's database, broker and mail settings point at a fresh store, a fresh
  omni-one platform (PostgreSQL both), Redis (a queue of the test's own) and a local SMTP
  sink. Then the guide runs in order, up to its first ``systemctl stop``:

  - each ``sudo pledge-ctl`` line runs and must exit 0 (or what its ``# exits N`` says):
    the steps that set the host up and the replay (``THROUGH_PLEDGE_CTL``) through
    ``deploy/bin/pledge-ctl`` in bash, as root would type them; the others in this process
    with what that wrapper gives a command (the environment file and nothing else of
    ``PLEDGE_*``, the folder ``/srv/pledge``), which saves two seconds of start-up each;
  - the two key-making one-liners run, and what they print is taken as keys by Pledge;
  - ``systemctl enable --now`` starts the units it names from ``deploy/systemd/``: their
    ``ExecStartPre=`` lines at once (the migration lock decides), then ``ExecStart=`` with
    the ``EnvironmentFile=``, ``Environment=`` and ``WorkingDirectory=`` of the unit and
    nothing of this process's environment; ``/readyz`` must answer ready with the store,
    the platform and the broker checked;
  - where nginx is installed, it serves ``deploy/nginx/pledge.conf`` (a self-signed
    certificate) in front of the web unit, and every HTTP call below goes through it;
  - after the guide's API key: a purpose decision with that key, and an access request over
    HTTP with ``pledge.client``: made, verified with the code the web unit mailed, carried
    out by the worker units (their logs show the jobs, the web unit's none), downloaded;
    through nginx also ``/metrics`` refused (forwarded), HSTS and the request id;
  - before ``ledger replay``: the platform is dumped (``pg_dump``), a person erased,
    the dump restored (the person is back), and the guide's replay, with ``--since`` the
    dump's time, erases them again;
  - ``pledge-daily.service``'s ``ExecStart=`` lines run one after the other;
  - at ``systemctl stop`` the units get SIGTERM as systemd would send it (the worker's
    ``KillMode=mixed``: its main process only) and must stop by themselves.

  The lines after that stop (a store restore, a release) are parsed by the first test
  only. About 50 s of CPU in all, mostly Python start-ups (each unit's processes, the
  ``ExecStartPre=`` lines, the commands run through pledge-ctl); on the 2-core machine with
  a load average of 8 to 11 from other work it took 125 to 160 s.
"""

from __future__ import annotations

import functools
import getpass
import io
import os
import re
import shlex
import shutil
import signal
import ssl
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from pledge.cli import app as cli_app
from pledge.devmail import DevMail, free_port
from pledge.keys import load_keyring
from pledge.platforms import create_platform
from pledge.settings import Settings
from tests.requests_support import code_from, smtp_sink
from tests.services import REDIS_URL, fresh_database, in_ci, require
from tests.test_docs_site import blocks

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "production.md"
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
INCLUDE = re.compile(r'^--8<-- "(?P<path>[^"]+)"\s*$', re.MULTILINE)
EXITS = re.compile(r"#\s*exits\s+(\d+)\s*$")
#: the guide's virtual environment is this one
HOST_PATHS = {"/opt/pledge/venv/bin/": f"{BIN}/"}
UNITS = DEPLOY / "systemd"
#: guide lines run through deploy/bin/pledge-ctl as a new process: the steps that set the host
#: up and the replay; the others run in this process with the environment pledge-ctl gives
THROUGH_PLEDGE_CTL = {("keys", "init"), ("db", "upgrade"), ("admin", "create-api-key"), ("ledger", "replay")}


# -- reading the guide ------------------------------------------------------------------------
def console_lines() -> list[str]:
    """The guide's commands: ``$ …`` lines of its console blocks (continuations joined), in order."""
    lines: list[str] = []
    for lang, body, _ in blocks(GUIDE):
        if lang != "console":
            continue
        current: str | None = None
        for raw in body.splitlines():
            if current is None and not raw.startswith("$ "):
                continue  # output
            part = raw[2:] if current is None else raw
            current = (current or "") + part.rstrip()
            if current.endswith("\\"):
                current = current[:-1] + " "
                continue
            lines.append(current.strip())
            current = None
    return lines


def pledge_args(line: str) -> list[str] | None:
    """The pledge arguments of a ``sudo pledge-ctl …`` line (redirections and comments off)."""
    if not line.startswith("sudo pledge-ctl "):
        return None
    words = shlex.split(line, comments=True)[2:]
    return [w for i, w in enumerate(words) if not w.startswith(">") and not (i and words[i - 1].startswith(">"))]


@functools.cache
def _cli() -> Any:
    return typer.main.get_command(cli_app)


def parse_cli(args: list[str]) -> Any:
    """Parse ``pledge ARGS`` with the real CLI (typer's own click): an unknown command or
    option, a bad value or a missing required option raises. Returns the command reached."""
    cmd, rest, path = _cli(), list(args), ["pledge"]
    while hasattr(cmd, "commands"):  # a group: the next word names one of its commands
        assert rest and not rest[0].startswith("-"), f"{' '.join(path)} is a group, not a command"
        sub = cmd.commands.get(rest[0])
        assert sub is not None, f"{' '.join(path)} has no command {rest[0]!r}"
        cmd, rest, path = sub, rest[1:], [*path, rest[0]]
    cmd.make_context(" ".join(path), rest, resilient_parsing=False)
    return cmd


def guide_config() -> str:
    found = [body for lang, body, _ in blocks(GUIDE) if lang == "yaml" and body.startswith("# file: pledge.yaml")]
    assert len(found) == 1, "the guide shows one pledge.yaml"
    return found[0]


def env_file(text_: str) -> dict[str, str]:
    """An EnvironmentFile= as systemd reads this one: NAME=value lines and comments."""
    out = {}
    for line in text_.splitlines():
        if line.strip() and not line.lstrip().startswith(("#", ";")):
            name, _, value = line.partition("=")
            out[name.strip()] = value.strip()
    return out


# -- the units --------------------------------------------------------------------------------
@dataclass
class Unit:
    name: str
    sections: dict[str, dict[str, list[str]]]
    instance: str = ""

    @classmethod
    def load(cls, name: str) -> Unit:
        """``name`` (``pledge-worker@1.service``) from deploy/systemd: its file (the template
        for an instance) and its drop-ins, an empty assignment resetting a list."""
        stem, _, suffix = name.rpartition(".")
        base, at, instance = stem.partition("@")
        files = [UNITS / (f"{base}@.{suffix}" if at else name)]
        files += sorted((UNITS / f"{name}.d").glob("*.conf"))
        sections: dict[str, dict[str, list[str]]] = {}
        section: dict[str, list[str]] | None = None
        for path in files:
            assert path.is_file(), f"{path} is missing"
            for raw in path.read_text(encoding="utf-8").splitlines():
                line = raw.strip()
                if not line or line.startswith(("#", ";")):
                    continue
                assert not line.endswith("\\"), f"{path}: no continuation lines, please"
                if line.startswith("[") and line.endswith("]"):
                    section = sections.setdefault(line[1:-1], {})
                    continue
                assert section is not None, f"{path}: {line!r} before any section"
                key, _, value = line.partition("=")
                values = section.setdefault(key.strip(), [])
                if value.strip():
                    values.append(value.strip())
                else:
                    values.clear()
        return cls(name, sections, instance)

    def get(self, key: str) -> list[str]:
        return self.sections.get("Service", {}).get(key, [])

    def commands(self, key: str, subs: dict[str, str]) -> list[list[str]]:
        out = []
        for value in self.get(key):
            value = value.replace("%i", self.instance)
            assert "%" not in value and "$" not in value, f"{self.name}: {key}={value}: no other specifiers"
            assert value[0] not in "-@+!:", f"{self.name}: {key}= without prefixes, please"
            out.append(shlex.split(substitute(value, subs)))
        return out

    def environment(self, subs: dict[str, str]) -> dict[str, str]:
        """What systemd gives the service: a bare PATH, then EnvironmentFile=, then Environment=."""
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
               "HOME": substitute("/srv/pledge", subs), "USER": getpass.getuser()}  # useradd's home
        for path in self.get("EnvironmentFile"):
            env.update(env_file(Path(substitute(path, subs)).read_text(encoding="utf-8")))
        for value in self.get("Environment"):
            for pair in shlex.split(value):
                name, _, val = pair.partition("=")
                env[name] = val
        return env


def substitute(value: str, subs: dict[str, str]) -> str:
    for old, new in subs.items():
        value = value.replace(old, new)
    return value


# -- 1. the guide against the CLI, and the files, without services ------------------------------
def test_the_guide_shows_every_deploy_file_and_its_commands_exist() -> None:
    text_ = GUIDE.read_text(encoding="utf-8")
    shown = set(INCLUDE.findall(text_))
    files = {p.relative_to(ROOT).as_posix() for p in DEPLOY.rglob("*") if p.is_file()}
    assert files and files == shown, f"deploy/ files not in the guide: {sorted(files - shown)}; " \
                                     f"included but missing: {sorted(shown - files)}"
    assert os.access(DEPLOY / "bin" / "pledge-ctl", os.X_OK)

    lines = console_lines()
    commands = [args for line in lines if (args := pledge_args(line)) is not None]
    assert len(commands) >= 15
    for line in lines:
        assert "pledge-ctl" not in line or line.startswith(("sudo pledge-ctl ", "sudo install")), line
    for args in commands:
        parse_cli(args)
    units = ["pledge-web.service", "pledge-worker@1.service", "pledge-worker@2.service", "pledge-daily.service"]
    for name in units:
        unit = Unit.load(name)
        for key in ("ExecStartPre", "ExecStart"):
            for argv in unit.commands(key, {}):
                assert argv[0] == "/opt/pledge/venv/bin/pledge", argv
                parse_cli(argv[1:])
    assert "--beat" in Unit.load("pledge-worker@1.service").commands("ExecStart", {})[0]
    assert "--beat" not in Unit.load("pledge-worker@2.service").commands("ExecStart", {})[0]

    # the environment file means the same to systemd and to the shell that pledge-ctl runs
    raw = (DEPLOY / "pledge.env").read_text(encoding="utf-8")
    for line in raw.splitlines():
        if line.strip() and not line.startswith("#"):
            assert re.fullmatch(r"[A-Z][A-Z0-9_]*=[^\s'\"$&;|<>`\\]*", line), f"pledge.env: {line!r}"
    shell = subprocess.run(["sh", "-c", 'set -a; . "$1"; env -0', "sh", DEPLOY / "pledge.env"],
                           env={"PATH": os.environ["PATH"]}, capture_output=True, text=True, check=True)
    from_shell = dict(item.split("=", 1) for item in shell.stdout.split("\0") if item.startswith("PLEDGE_"))
    assert from_shell == env_file(raw)
    assert from_shell["PLEDGE_ENVIRONMENT"] == "production"



def test_systemd_analyze_verifies_the_units(tmp_path: Path) -> None:
    """The units as systemd reads them (unknown keys, bad values, commands that are not
    there), with the guide's paths moved to this machine's."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed: the units were parsed above, not verified")
    subs = {**HOST_PATHS, "/srv/pledge": str(tmp_path), "/etc/pledge/pledge.env": str(tmp_path / "pledge.env")}
    copy = tmp_path / "units"
    for path in UNITS.rglob("*"):
        if path.is_file():
            target = copy / path.relative_to(UNITS)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(substitute(path.read_text(encoding="utf-8"), subs), encoding="utf-8")
    names = ["pledge-web.service", "pledge-worker@1.service", "pledge-worker@2.service", "pledge-daily.service",
             "pledge-daily.timer"]
    res = subprocess.run([analyze, "verify", *(str(copy / n) for n in names)],
                         cwd=copy, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and not res.stderr.strip() and not res.stdout.strip(), res.stdout + res.stderr


# -- 2. the guide on PostgreSQL and Redis ----------------------------------------------------------
@dataclass
class Host:
    """The guide's host, in a temporary folder."""

    root: Path
    subs: dict[str, str]
    env: dict[str, str]  # for pledge-ctl lines: a login shell's, none of this session's PLEDGE_*
    platform_url: str
    web_port: int
    sink: DevMail
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)
    api_key: str = ""
    base_url: str = ""
    verify: ssl.SSLContext | bool = True

    def run(self, line: str) -> subprocess.CompletedProcess[str]:
        """One ``sudo pledge-ctl …`` line of the guide, as root would run it."""
        m = EXITS.search(line)
        res = subprocess.run(["bash", "-c", substitute(line.removeprefix("sudo "), self.subs)],
                             cwd=self.root, env=self.env, capture_output=True, text=True, timeout=180)
        assert res.returncode == (int(m[1]) if m else 0), (
            f"`{line}` exited {res.returncode}:\n{res.stdout}\n{res.stderr}")
        return res

    def cli(self, line: str) -> str:
        """One ``sudo pledge-ctl …`` line run in this process with what pledge-ctl gives it: the
        environment file (and nothing else of ``PLEDGE_*``), the folder /srv/pledge. What it
        saves is the interpreter's start-up, two seconds a command on a quiet machine."""
        words = shlex.split(substitute(line, self.subs), comments=True)[2:]
        out = None
        if ">" in words:
            out, words = words[words.index(">") + 1], words[:words.index(">")]
        m = EXITS.search(line)
        settings = env_file(Path(self.subs["/etc/pledge/pledge.env"]).read_text(encoding="utf-8"))
        with pytest.MonkeyPatch.context() as mp:
            for name in [n for n in os.environ if n.startswith("PLEDGE_")]:
                mp.delenv(name)
            for name, value in {**settings, "PLEDGE_ADMIN_PASSWORD": self.env["PLEDGE_ADMIN_PASSWORD"]}.items():
                mp.setenv(name, value)
            mp.chdir(self.subs["/srv/pledge"])
            res = CliRunner().invoke(cli_app, words)
        assert res.exit_code == (int(m[1]) if m else 0), (
            f"`{line}` exited {res.exit_code}:\n{res.output}\n{res.exception!r}")
        if out:
            (self.root / out).write_text(res.stdout, encoding="utf-8")
        return res.stdout

    def start(self, names: list[str]) -> None:
        units = [Unit.load(n) for n in names]
        pre = [(u, subprocess.Popen(argv, cwd=substitute(u.get("WorkingDirectory")[0], self.subs),
                                    env=u.environment(self.subs), stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True))
               for u in units for argv in u.commands("ExecStartPre", self.subs)]
        for u, proc in pre:
            out, _ = proc.communicate(timeout=180)
            assert proc.returncode == 0, f"{u.name}: ExecStartPre failed:\n{out}"
        for u in units:
            (argv,) = u.commands("ExecStart", self.subs)
            log = self.root / f"{u.name}.log"
            with open(log, "wb") as out:
                self.procs[u.name] = subprocess.Popen(
                    argv, cwd=substitute(u.get("WorkingDirectory")[0], self.subs), env=u.environment(self.subs),
                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            self.logs[u.name] = log

    def stop(self, names: list[str]) -> None:
        """SIGTERM as systemd sends it: to the main process under KillMode=mixed, else to all."""
        for name in names:
            proc = self.procs[name]
            if proc.poll() is None:
                mixed = Unit.load(name).get("KillMode") == ["mixed"]
                (os.kill if mixed else os.killpg)(proc.pid, signal.SIGTERM)
        for name in names:
            try:
                self.procs[name].wait(timeout=60)
            except subprocess.TimeoutExpired:
                pytest.fail(f"{name} did not stop within 60 s of SIGTERM:\n{self.tail(name)}")
            finally:
                with suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.procs[name].pid, signal.SIGKILL)  # what systemd does to the rest

    def kill(self) -> None:
        for proc in self.procs.values():
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)

    def tail(self, name: str) -> str:
        return self.logs[name].read_text(errors="replace")[-3000:]

    def dead(self) -> list[str]:
        return [n for n, p in self.procs.items() if p.poll() is not None]


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _users(url: str, n: int) -> list[str]:
    eng = create_engine(url)
    try:
        with eng.connect() as conn:
            return list(conn.execute(text("SELECT email FROM users WHERE status = 'active' ORDER BY id LIMIT :n"),
                                     {"n": n}).scalars())
    finally:
        eng.dispose()


def _count(url: str, email: str) -> int:
    eng = create_engine(url)
    try:
        with eng.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM users WHERE lower(email) = lower(:e)"),
                                    {"e": email}).scalar_one())
    finally:
        eng.dispose()


@contextmanager
def _nginx(host: Host) -> Iterator[None]:
    """deploy/nginx/pledge.conf in front of the web unit, with a self-signed certificate."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if nginx is None:
        host.base_url = f"http://127.0.0.1:{host.web_port}"
        yield
        return
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = host.root / "nginx"
    (folder / "acme" / ".well-known" / "acme-challenge").mkdir(parents=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "privacy.example.com")])
    now = datetime.now(UTC)
    import ipaddress

    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("privacy.example.com"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    http_port, https_port = free_port(), free_port()
    site = (DEPLOY / "nginx" / "pledge.conf").read_text(encoding="utf-8")
    replace = {"listen 80;": f"listen 127.0.0.1:{http_port};", "listen [::]:80;": "",
               "listen 443 ssl;": f"listen 127.0.0.1:{https_port} ssl;", "listen [::]:443 ssl;": "",
               "/etc/letsencrypt/live/privacy.example.com/fullchain.pem": str(folder / "cert.pem"),
               "/etc/letsencrypt/live/privacy.example.com/privkey.pem": str(folder / "key.pem"),
               "root /var/www/html;": f"root {folder / 'acme'};",
               "server 127.0.0.1:8000;": f"server 127.0.0.1:{host.web_port};"}
    for old, new in replace.items():
        assert site.count(old) == 1, f"deploy/nginx/pledge.conf: expected one {old!r}"
        site = site.replace(old, new)
    (folder / "pledge.conf").write_text(site, encoding="utf-8")
    temp = "\n".join(f"  {kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                                          "uwsgi", "scgi"))
    (folder / "nginx.conf").write_text(
        f"daemon off;\nworker_processes 1;\npid {folder / 'nginx.pid'};\nerror_log {folder / 'error.log'} info;\n"
        + ("user root;\n" if os.geteuid() == 0 else "")
        + f"events {{ worker_connections 64; }}\nhttp {{\n  access_log {folder / 'access.log'};\n{temp}\n"
        f"  include {folder / 'pledge.conf'};\n}}\n", encoding="utf-8")
    base = [nginx, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-e", str(folder / "error.log")]
    check = subprocess.run([*base, "-t"], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen(base, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{http_port}/", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, (folder / "error.log").read_text()
                time.sleep(0.1)
        # port 80: certificate renewals answered, everything else sent to https
        (folder / "acme" / ".well-known" / "acme-challenge" / "tok").write_text("proof")
        plain = f"http://127.0.0.1:{http_port}"
        assert httpx.get(f"{plain}/.well-known/acme-challenge/tok").text == "proof"
        moved = httpx.get(f"{plain}/privacy?lang=pl", headers={"Host": "privacy.example.com"})
        assert moved.status_code == 301 and moved.headers["location"] == "https://privacy.example.com/privacy?lang=pl"
        host.base_url = f"https://127.0.0.1:{https_port}"
        host.verify = ssl.create_default_context(cafile=str(folder / "cert.pem"))
        yield
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def _request_flow(host: Host) -> None:
    """An access request over HTTP, carried out by the workers, and a decision."""
    from pledge.client import PledgeClient

    email = _users(host.platform_url, 1)[0]
    http = httpx.Client(base_url=host.base_url, verify=host.verify, timeout=120,
                        headers={"Host": "privacy.example.com"})
    with http:
        ready = http.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.headers["strict-transport-security"].startswith("max-age=")  # PLEDGE_BASE_URL is https
        assert re.fullmatch(r"[0-9A-Za-z._-]{1,64}", ready.headers["x-request-id"])
        if host.base_url.startswith("https"):
            assert http.get("/metrics").status_code == 401  # forwarded: not local, and no key
            assert httpx.get(f"http://127.0.0.1:{host.web_port}/metrics").status_code == 200  # local scrape
        with PledgeClient(host.base_url, api_key=host.api_key, http=http) as platform:
            decision = platform.decision(email, "marketing_email")  # the guide's key: decisions:read
            assert decision.allowed is False
            made = platform.create_request("access", email)  # requests:write
        approver = host.cli("sudo pledge-ctl admin create-api-key --name guide-test --scope requests:approve "
                            "--scope requests:read --scope exports:read").strip().splitlines()[-1]
        with PledgeClient(host.base_url, api_key=approver, http=http) as officer:
            deadline = time.monotonic() + 30
            while True:  # the web unit's background sender mails the code
                try:
                    code = code_from(host.sink, email)
                    break
                except AssertionError:
                    assert time.monotonic() < deadline, "no code mailed"
                    time.sleep(0.2)
            verified = officer.verify_request(made.request.id, code=code)
            assert verified.state in ("verified", "awaiting_approval")
            done = officer.approve_request(made.request.id) if verified.approval_needed or \
                verified.state == "awaiting_approval" else officer.run_request(made.request.id)
            deadline = time.monotonic() + 60
            while done.state == "executing":  # with workers, approving hands the request to them
                assert time.monotonic() < deadline, "not carried out in 60 s"
                time.sleep(0.3)
                done = officer.request_status(made.request.id)
            assert done.state == "completed" and done.download_url, done
            package = officer.download(done.download_url)
    with zipfile.ZipFile(io.BytesIO(package.content)) as z:
        assert any(email.encode() in z.read(n) for n in z.namelist()), "the package holds the person's rows"
    # a worker logs job.done once its task returns, which can be just after the request shows
    # completed; read the whole log (a tail may already have scrolled past it)
    deadline = time.monotonic() + 20
    while not any('"job.done"' in host.logs[n].read_text(errors="replace")
                  for n in host.logs if n.startswith("pledge-worker@")):
        assert time.monotonic() < deadline, "the worker units carried the request out"
        time.sleep(0.3)
    assert '"job.done"' not in host.logs["pledge-web.service"].read_text(), "the web unit sent, not ran"


def _restore_scenario(host: Host, dumps: Path) -> tuple[str, str]:
    """A platform backup, an erasure after it, the backup restored: (the backup's time, who)."""
    tools = [shutil.which("pg_dump"), shutil.which("pg_restore")]
    if None in tools:
        if in_ci():
            pytest.fail("pg_dump and pg_restore are needed")
        pytest.skip("pg_dump/pg_restore are not installed: the ledger replay was not run")
    email = _users(host.platform_url, 2)[1]
    taken = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    dump = dumps / "platform.dump"
    subprocess.run([tools[0], "--format=custom", f"--file={dump}", _libpq(host.platform_url)], check=True, timeout=60)
    host.cli(f"sudo pledge-ctl rights erase --email {email}")
    assert _count(host.platform_url, email) == 0
    subprocess.run([tools[1], "--clean", "--if-exists", f"--dbname={_libpq(host.platform_url)}", dump],
                   check=True, timeout=60)
    assert _count(host.platform_url, email) == 1, "the restored backup brings the person back"
    return taken.isoformat(), email


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
def test_the_guide_runs_on_postgresql_and_redis(tmp_path: Path) -> None:
    require("redis", "127.0.0.1", 6379)
    srv, etc, bin_ = tmp_path / "srv", tmp_path / "etc", tmp_path / "bin"
    for folder in (srv, etc, bin_):
        folder.mkdir()
    with ExitStack() as stack:
        store = stack.enter_context(fresh_database("postgresql"))
        platform = stack.enter_context(fresh_database("postgresql"))
        sink = stack.enter_context(smtp_sink())
        create_platform("omni-one", platform, users=30, seed=7, progress=False)
        web_port = free_port()
        uploads = tmp_path / "uploads"  # the platform's own upload folder (empty: no files yet)
        uploads.mkdir()
        subs = {**HOST_PATHS, "/srv/pledge": str(srv), "/etc/pledge/pledge.env": str(etc / "pledge.env"),
                "/srv/platform/uploads": str(uploads),
                "--port 8000": f"--port {web_port}", "127.0.0.1:8000": f"127.0.0.1:{web_port}",
                "--since 2026-03-01T02:00:00+00:00": "--since SINCE"}

        # the deployment (section 3): the guide's pledge.yaml, a policy and data map, the settings
        (srv / "pledge.yaml").write_text(guide_config(), encoding="utf-8")
        for name in ("policy.yaml", "dataset.yaml"):
            shutil.copy(ROOT / "examples" / "omni-one" / name, srv / name)
        settings = {"PLEDGE_DATABASE_URL": store, "PLEDGE_PLATFORM_URL": platform, "PLEDGE_BROKER_URL": REDIS_URL,
                    "PLEDGE_SMTP_HOST": "127.0.0.1", "PLEDGE_SMTP_PORT": str(sink.port), "PLEDGE_SMTP_TLS": "false"}
        lines = []
        original = env_file((DEPLOY / "pledge.env").read_text(encoding="utf-8"))
        assert set(settings) | {"PLEDGE_SMTP_USER", "PLEDGE_SMTP_PASSWORD"} <= set(original)
        for name, value in original.items():
            if name not in ("PLEDGE_SMTP_USER", "PLEDGE_SMTP_PASSWORD"):  # the sink takes no login
                lines.append(f"{name}={settings.get(name, substitute(value, subs))}")
        lines.append(f"PLEDGE_JOBS_QUEUE=pledge-guide-{uuid.uuid4().hex[:10]}")  # Redis is shared
        (etc / "pledge.env").write_text("\n".join(lines) + "\n", encoding="utf-8")
        wrapper = (DEPLOY / "bin" / "pledge-ctl").read_text(encoding="utf-8")
        assert wrapper.count('!= pledge ]') == 1
        (bin_ / "pledge-ctl").write_text(substitute(wrapper, subs).replace("!= pledge ]", f"!= {getpass.getuser()} ]"))
        (bin_ / "pledge-ctl").chmod(0o755)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PLEDGE_", "PROMETHEUS_", "FORWARDED_")) and k != "VIRTUAL_ENV"}
        env.update(PATH=f"{bin_}{os.pathsep}{env.get('PATH', '')}", PLEDGE_ADMIN_PASSWORD="correct horse battery")
        host = Host(tmp_path, subs, env, platform, web_port, sink)
        started: list[str] = []
        made: list[str] = []
        stack.callback(host.kill)  # whatever a failure left running: each unit's process group

        for line in console_lines():
            if line.startswith("sudo systemctl stop"):
                assert started, "the guide stops the services it started"
                daily = Unit.load("pledge-daily.service")
                for argv in daily.commands("ExecStart", subs):  # oneshot: one after the other
                    res = subprocess.run(argv, cwd=srv, env=daily.environment(subs), capture_output=True,
                                         text=True, timeout=180)
                    # `pledge prove` exits 1 when a promise is broken, failing the unit: the
                    # generated platform holds people under the minimum age on purpose
                    broken = argv[1] == "prove" and "[BROKEN]" in res.stdout
                    assert res.returncode == (1 if broken else 0), \
                        f"pledge-daily.service: {argv}:\n{res.stdout}\n{res.stderr}"
                assert not host.dead(), f"{host.dead()} stopped on their own"
                host.stop(started)
                assert (srv / "celerybeat-schedule").exists() or list(srv.glob("celerybeat-schedule*")), \
                    "beat keeps its schedule in the working directory"
                break
            if line.startswith("sudo systemctl enable --now "):
                started = [w for w in line.split()[4:] if w.endswith(".service")]
                assert started == ["pledge-web.service", "pledge-worker@1.service", "pledge-worker@2.service"]
                assert (UNITS / "pledge-daily.timer").is_file()
                host.start(started)
                _wait_ready(host)
                stack.enter_context(_nginx(host))
                continue
            if line.startswith("/opt/pledge/venv/bin/python -c "):  # keys for the environment file
                made.append(host.run(line).stdout.strip())
                continue
            if pledge_args(line) is None:
                continue  # a system command (apt, install, systemctl status, certbot…): not run here
            if " ledger replay " in line:
                since, erased = _restore_scenario(host, tmp_path)
                host.subs["SINCE"] = since
                host.run(line)
                assert _count(platform, erased) == 0, "the replay erases the restored person again"
                continue
            args = pledge_args(line) or []
            if tuple(args[:2]) in THROUGH_PLEDGE_CTL and "--sql" not in args:
                output = host.run(line).stdout
            else:
                output = host.cli(line)
            if " admin create-api-key " in line:
                host.api_key = output.strip().splitlines()[-1]
                assert host.api_key.startswith("plk_")
                _request_flow(host)
        else:
            pytest.fail("the guide never stops the services")
        assert (srv / ".pledge" / "keys.json").stat().st_mode & 0o777 == 0o600
        # the values the guide's two one-liners print are keys Pledge takes from the environment
        assert len(made) == 2
        secret, fernet = made
        keyring = load_keyring(Settings(secret_key=secret, subject_key=secret, audit_key=secret,
                                        encryption_keys=fernet), tmp_path / "no-key-file")
        assert keyring.source == "environment" and len(secret) >= 32
        assert (tmp_path / "pledge-schema.sql").read_text().count("CREATE TABLE") > 5


def _wait_ready(host: Host) -> None:
    deadline = time.monotonic() + 120
    url = f"http://127.0.0.1:{host.web_port}/readyz"
    while True:
        assert not host.dead(), "\n".join(f"{n}:\n{host.tail(n)}" for n in host.dead())
        broken = [n for n in host.logs if "Traceback (most recent call last)" in host.logs[n].read_text(errors="replace")]
        assert not broken, "\n".join(f"{n}:\n{host.tail(n)}" for n in broken)  # uvicorn would restart it forever
        try:
            res = httpx.get(url, timeout=5)
            if res.status_code == 200:
                checks = res.json()["checks"]
                assert {"store", "broker", "database:main"} <= set(checks), checks
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "not ready in 120 s:\n" + host.tail("pledge-web.service")
        time.sleep(0.3)
