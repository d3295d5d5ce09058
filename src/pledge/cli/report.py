"""``pledge report``, ``pledge notice`` and ``pledge certificate``: records, notices, campaigns, certificates."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from pledge.cli import app
from pledge.cli.common import ConfigOpt, NowOpt, console, fail, load_engine, print_json
from pledge.context import Context

report_app = typer.Typer(help="Reports from the policy: records of processing, the privacy notice, the data map.",
                         no_args_is_help=True)
notice_app = typer.Typer(help="Privacy notice versions, material changes and notification campaigns.",
                         no_args_is_help=True)
campaign_app = typer.Typer(help="Notification campaigns: tell the affected people before a change applies.",
                           no_args_is_help=True)
certificate_app = typer.Typer(help="Signed erasure certificates: issue and verify.", no_args_is_help=True)
app.add_typer(report_app, name="report")
app.add_typer(notice_app, name="notice")
notice_app.add_typer(campaign_app, name="campaign")
app.add_typer(certificate_app, name="certificate")

OutOpt = Annotated[Path | None, typer.Option("--out", "-o", help="Write to this file (default: standard output).")]


def _engine(config: Path | None, now: str | None = None, *, keys: bool = True) -> Context:
    engine = load_engine(config, now, keys=keys)
    try:
        engine.policy  # noqa: B018 - load now so that a bad file is reported here
    except (OSError, ValidationError, ValueError) as exc:
        fail(f"{engine.config.policy}: {exc}")
    return engine


def _write(data: str | bytes, out: Path | None) -> None:
    if out is None:
        if isinstance(data, bytes):
            fail("this format is binary; give --out FILE")
        sys.stdout.write(data if data.endswith("\n") else data + "\n")
        return
    try:
        if isinstance(data, bytes):
            out.write_bytes(data)
        else:
            out.write_text(data, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {out}: {exc}")
    console.print(f"wrote {out}", style="green")


# -- pledge report ---------------------------------------------------------------------------
@report_app.command("ropa")
def ropa_cmd(
    config: ConfigOpt = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="html, csv or xlsx.")] = "html",
    out: OutOpt = None,
) -> None:
    """Records of processing activities (GDPR Art. 30(1)(a)-(g)) with W3C DPV terms."""
    from pledge.reports import ropa

    if fmt not in ropa.FORMATS:
        fail(f"--format {fmt!r} is not one of {', '.join(ropa.FORMATS)}")
    engine = _engine(config, keys=False)
    _write(ropa.render(ropa.build_ropa(engine.policy, engine.dataset, engine.now().date()), fmt), out)


@report_app.command("notice")
def notice_cmd(
    config: ConfigOpt = None,
    lang: Annotated[str, typer.Option("--lang", "-l", help="en or pl.")] = "en",
    fmt: Annotated[str, typer.Option("--format", "-f", help="html or md.")] = "html",
    out: OutOpt = None,
) -> None:
    """The privacy notice (GDPR Art. 13 and 14), rendered from the policy."""
    from pledge.i18n import LANGUAGES
    from pledge.reports import notice

    if lang not in LANGUAGES:
        fail(f"--lang {lang!r} is not one of {', '.join(LANGUAGES)}")
    if fmt not in notice.FORMATS:
        fail(f"--format {fmt!r} is not one of {', '.join(notice.FORMATS)}")
    _write(notice.render(_engine(config, keys=False).policy, lang, fmt), out)


@report_app.command("datamap")
def datamap_cmd(
    config: ConfigOpt = None,
    out: OutOpt = None,
) -> None:
    """The data-map picture as SVG: systems, categories, purposes, processors, countries."""
    from pledge.reports.datamap_svg import datamap_svg

    engine = _engine(config, keys=False)
    _write(datamap_svg(engine.policy, engine.dataset), out)


# -- pledge notice ---------------------------------------------------------------------------
def _load_policy_file(path: Path) -> Any:
    from pledge.policy.load import load_policy

    if not path.exists():
        fail(f"{path}: policy file not found")
    try:
        return load_policy(path)
    except ValidationError as exc:
        errs = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        fail(f"{path}: not a valid policy: {errs}")
    except (OSError, ValueError) as exc:
        fail(f"{path}: {exc}")


def _show_diff(diff: Any) -> None:
    table = Table(title=f"policy {diff.old_version} → {diff.new_version}")
    table.add_column("material")
    table.add_column("change")
    for c in sorted(diff.changes, key=lambda c: not c.material):
        table.add_row("[bold red]yes[/]" if c.material else "no", c.summary)
    console.print(table)
    if diff.is_material:
        console.print(f"[bold]{len(diff.material)} material change(s)[/]: the people affected must be told"
                      + (" and asked to consent again." if diff.reconsent else "."))
    else:
        console.print("No material change: publishing needs no notification campaign.")


@notice_app.command("diff")
def diff_cmd(
    old: Annotated[Path, typer.Argument(help="The previous policy.yaml.")],
    new: Annotated[Path, typer.Argument(help="The new policy.yaml.")],
    config: ConfigOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """Show what changed between two policy files, and which changes are material."""
    from pledge.reports.changes import diff_policies

    if fmt not in ("text", "json"):
        fail(f"--format {fmt!r} is not text or json")
    dataset = _engine(config, keys=False).dataset if config else None
    diff = diff_policies(_load_policy_file(old), _load_policy_file(new), dataset)
    if fmt == "json":
        print_json(diff.as_dict())
    else:
        _show_diff(diff)


def _parse_date(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option} {value!r} is not an ISO 8601 date, e.g. 2026-12-31")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@notice_app.command("publish")
def publish_cmd(
    config: ConfigOpt = None,
    effective: Annotated[str | None, typer.Option("--effective", help="When a material change applies "
                                                  "(default: today plus the policy's notice period).")] = None,
    campaign: Annotated[bool, typer.Option("--campaign/--no-campaign",
                                           help="Start a notification campaign for a material change.")] = True,
    now: NowOpt = None,
) -> None:
    """Publish the current policy as a notice version; a material change starts a campaign."""
    from pledge.reports.campaign import CampaignError, Campaigns
    from pledge.reports.versions import publish

    engine = _engine(config, now)
    result = publish(engine)
    if not result.new:
        console.print(f"notice version {result.version} is already published (#{result.id}); nothing to do")
        return
    console.print(f"published notice version {result.version} as #{result.id}")
    if result.diff is not None:
        _show_diff(result.diff)
    if result.material and campaign and result.diff is not None:
        try:
            cid = Campaigns(engine).start_for_change(result.diff, result.id, _parse_date(effective, "--effective"))
        except CampaignError as exc:
            fail(str(exc))
        console.print(f"started campaign {cid}; send it with: pledge notice campaign send {cid}")


@campaign_app.command("start")
def campaign_start(
    config: ConfigOpt = None,
    kind: Annotated[str, typer.Option("--kind", help="business_transfer or policy_change.")] = "business_transfer",
    acquirer: Annotated[str | None, typer.Option("--acquirer", help="Who takes over (business transfer).")] = None,
    contact: Annotated[str | None, typer.Option("--contact", help="The new controller's privacy contact.")] = None,
    effective: Annotated[str | None, typer.Option("--effective", help="When it applies (ISO date).")] = None,
    reconsent: Annotated[bool, typer.Option("--reconsent", help="Ask people to accept again.")] = False,
    lang: Annotated[str | None, typer.Option("--lang", help="en or pl (default: the policy's).")] = None,
    now: NowOpt = None,
) -> None:
    """Start a campaign for an event the policy promises to announce (e.g. a business transfer)."""
    from pledge.reports.campaign import CampaignError, Campaigns

    engine = _engine(config, now)
    if lang is not None and lang not in ("en", "pl"):
        fail(f"--lang {lang!r} is not en or pl")
    details = {k: v for k, v in (("acquirer", acquirer), ("contact", contact)) if v}
    try:
        cid = Campaigns(engine).start(kind, effective_at=_parse_date(effective, "--effective"),
                                      reconsent=reconsent, details=details, lang=lang)
    except CampaignError as exc:
        fail(str(exc))
    console.print(f"started campaign {cid}; send it with: pledge notice campaign send {cid}")


@campaign_app.command("send")
def campaign_send(
    campaign_id: Annotated[int, typer.Argument(help="The campaign number.")],
    config: ConfigOpt = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Send at most this many now.")] = None,
    rate: Annotated[float, typer.Option("--rate", help="Messages per second at most.")] = 20.0,
    now: NowOpt = None,
) -> None:
    """Send a campaign's emails; a re-run sends only to people not yet reached."""
    from pledge.notify import Notifier
    from pledge.reports.campaign import CampaignError, Campaigns

    engine = _engine(config, now)
    campaigns = Campaigns(engine, Notifier(engine, rate_per_second=rate))
    with Progress(TextColumn("[bold]campaign {task.fields[cid]}"), BarColumn(), TextColumn("{task.completed} sent"),
                  console=console, transient=True) as progress:
        task = progress.add_task("send", total=None, cid=campaign_id)
        try:
            outcome = campaigns.send(campaign_id, limit=limit,
                                     progress=lambda status: progress.advance(task) if status == "sent" else None)
        except CampaignError as exc:
            fail(str(exc))
    print_json(outcome.as_dict())
    if outcome.failed:
        raise typer.Exit(1)


@campaign_app.command("status")
def campaign_status(
    campaign_id: Annotated[int | None, typer.Argument(help="The campaign number (default: list all).")] = None,
    config: ConfigOpt = None,
) -> None:
    """Show a campaign's progress: sent and accepted."""
    from pledge.reports.campaign import CampaignError, Campaigns

    campaigns = Campaigns(_engine(config))
    if campaign_id is None:
        print_json(campaigns.all())
        return
    try:
        print_json(campaigns.status(campaign_id))
    except CampaignError as exc:
        fail(str(exc))


@campaign_app.command("accept")
def campaign_accept(
    token: Annotated[str, typer.Argument(help="The token from the acceptance link.")],
    config: ConfigOpt = None,
) -> None:
    """Record a person's acceptance from the signed token of their email link."""
    from pledge.reports.campaign import CampaignError, Campaigns

    try:
        cid = Campaigns(_engine(config)).accept(token)
    except CampaignError as exc:
        fail(str(exc))
    console.print(f"acceptance recorded for campaign {cid}")


# -- pledge certificate ----------------------------------------------------------------------
@certificate_app.command("issue")
def certificate_issue(
    report: Annotated[Path, typer.Argument(help="The erasure report (JSON) of a completed erasure.")],
    config: ConfigOpt = None,
    out: OutOpt = None,
    html_out: Annotated[Path | None, typer.Option("--html", help="Also write an HTML rendering here.")] = None,
) -> None:
    """Sign a certificate for a completed erasure."""
    from pledge.reports.certificate import CertificateError, issue, to_html

    engine = _engine(config)
    try:
        data = json.loads(report.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        fail(f"{report}: cannot read the report: {exc}")
    try:
        doc = issue(data, engine.keys.secret, issued_at=engine.now(),
                    controller=engine.policy.controller.name, policy_version=engine.policy.version)
    except CertificateError as exc:
        fail(f"{report}: {exc}")
    _write(json.dumps(doc, indent=2, ensure_ascii=False), out)
    if html_out is not None:
        _write(to_html(doc), html_out)


@certificate_app.command("verify")
def certificate_verify(
    file: Annotated[Path, typer.Argument(help="The certificate JSON file.")],
    config: ConfigOpt = None,
) -> None:
    """Check a certificate's signature (and, with -c, that this deployment issued it)."""
    from pledge.reports.certificate import CertificateError, public_key_b64, signing_key, verify

    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        fail(f"{file}: cannot read the certificate: {exc}")
    # any of the deployment's signing keys: certificates issued before a rotation still check
    expected = [public_key_b64(signing_key(k)) for k in _engine(config).keys.signing] if config else None
    try:
        body = verify(doc, expected)
    except CertificateError as exc:
        fail(f"{file}: {exc}", code=1)
    console.print(f"[green]valid[/]: erasure certificate for request {body['request_id']}, "
                  f"issued {body['issued_at']}")
