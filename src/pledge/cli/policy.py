"""``pledge check`` (lint a policy) and ``pledge schema`` (JSON Schema for editors)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from pledge.cli import app
from pledge.cli.common import ConfigOpt, console, err_console, fail, print_json
from pledge.policy.lint import LintReport, lint_file
from pledge.settings import ConfigError, default_config_path, load_config
from pledge.yamlio import LoadError


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


class SchemaName(StrEnum):
    policy = "policy"
    dataset = "dataset"


def _paths(policy: Path | None, dataset: Path | None, config: Path | None) -> tuple[Path, Path | None]:
    """The files to check: the arguments, or else the ones the config names."""
    if policy is not None:
        return policy, dataset
    try:
        cfg = load_config(config or default_config_path())
    except ConfigError as exc:
        fail(f"{exc}\n(give a POLICY file, or -c CONFIG naming one)")
    return cfg.policy, dataset if dataset is not None else cfg.dataset


def _load_error_json(exc: LoadError) -> dict[str, Any]:
    return {
        "ok": False,
        "unusable": True,
        "file": exc.file,
        "problems": [
            {"file": p.file, "line": p.line, "column": p.column, "path": p.path,
             "message": p.message, "expected": p.expected}
            for p in exc.problems
        ],
    }


@app.command()
def check(
    policy: Annotated[Path | None, typer.Argument(
        help="The policy file (policy.yaml). Default: the policy the config names.")] = None,
    dataset: Annotated[Path | None, typer.Option(
        "--dataset", "-d", help="A dataset.yaml: also check that rules and purposes name data it has.")] = None,
    output: Annotated[OutputFormat, typer.Option(
        "--format", "-f", help="Output format: text (a table) or json.")] = OutputFormat.text,
    config: ConfigOpt = None,
) -> None:
    """Lint a privacy policy: unlawful transfers, missing bases, vague periods, loose deadlines.

    Exit status: 0 no errors (warnings allowed), 1 errors found, 2 the input is unusable.
    """
    policy_path, dataset_path = _paths(policy, dataset, config)
    try:
        report = lint_file(policy_path, dataset_path)
    except LoadError as exc:
        if output is OutputFormat.json:
            print_json(_load_error_json(exc))
            raise typer.Exit(2) from None
        err_console.print(f"[bold red]error:[/] cannot use {exc.file}:")
        for problem in exc.problems:
            err_console.print(f"  {problem}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None

    if output is OutputFormat.json:
        print_json(report.as_dict())
    else:
        _print_table(report)
    raise typer.Exit(1 if report.errors else 0)


def _print_table(report: LintReport) -> None:
    if report.findings:
        table = Table(title=escape(f"pledge check {report.file}"), show_lines=False, title_justify="left")
        table.add_column("line", justify="right", style="dim")
        table.add_column("code")
        table.add_column("severity")
        table.add_column("field", overflow="fold")
        table.add_column("finding", overflow="fold")
        for f in report.findings:
            sev = "[bold red]error[/]" if f.severity == "error" else "[yellow]warning[/]"
            text = escape(f.message) + (f"\n[dim]{escape(f.hint)}[/]" if f.hint else "")
            table.add_row(str(f.line or ""), f.code, sev, escape(f.path or "(policy)"), text)
        console.print(table)
    n_err, n_warn = len(report.errors), len(report.warnings)
    verdict = "[bold red]FAIL[/]" if n_err else "[bold green]OK[/]"
    console.print(f"{verdict} {escape(str(report.file))}: {n_err} error(s), {n_warn} warning(s)", soft_wrap=True)


@app.command()
def schema(
    name: Annotated[SchemaName, typer.Argument(help="Which file: policy (policy.yaml) or dataset (dataset.yaml).")],
    config: ConfigOpt = None,
) -> None:
    """Print the JSON Schema of policy.yaml or dataset.yaml, for editors to validate against."""
    del config  # accepted like every command; the schema does not depend on it
    if name is SchemaName.policy:
        from pledge.policy.model import Policy

        data = Policy.model_json_schema()
        data["title"] = "Pledge policy.yaml"
    else:
        from pledge.datamap.model import Dataset

        data = Dataset.model_json_schema()
        data["title"] = "Pledge dataset.yaml"
    data["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
