"""Render the reference of every ``pledge`` command as Markdown (docs/cli.md).

The file is generated, and a test fails when it is out of date, so the docs can
never drift from the commands: run ``make docs`` after changing a command.
"""

from __future__ import annotations

from typing import Any

import typer.main

from pledge.cli import app

HEADER = """# Command reference

Generated from the commands themselves by `make docs`; a test keeps it current.
Every command takes `-c/--config` (default: `$PLEDGE_CONFIG` or `./pledge.yaml`) where it
needs a deployment.
"""


def _is_group(cmd: Any) -> bool:
    return hasattr(cmd, "list_commands")


def _walk(cmd: Any, path: list[str]) -> list[tuple[list[str], Any]]:
    out = [(path, cmd)]
    if _is_group(cmd):
        ctx = cmd.context_class(cmd)
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                out.extend(_walk(sub, [*path, name]))
    return out


def _options(cmd: Any) -> list[str]:
    rows = []
    for p in cmd.params:
        if p.param_type_name == "option":
            names = ", ".join(f"`{o}`" for o in p.opts + p.secondary_opts)
            rows.append(f"| {names} | {(p.help or '').replace('|', '/')} |")
        elif p.param_type_name == "argument":
            text = (getattr(p, "help", None) or "").replace("|", "/")
            rows.append(f"| `{p.name.upper() if p.name else ''}` (argument) | {text} |")
    return rows


def render() -> str:
    root = typer.main.get_command(app)
    parts = [HEADER]
    for path, cmd in _walk(root, ["pledge"])[1:]:
        if _is_group(cmd):
            parts.append(f"\n## `{' '.join(path)}`\n\n{(cmd.help or '').strip()}\n")
            continue
        parts.append(f"\n### `{' '.join(path)}`\n\n{(cmd.help or '').strip()}\n")
        rows = _options(cmd)
        if rows:
            parts.append("\n| option | meaning |\n|---|---|\n" + "\n".join(rows) + "\n")
    return "".join(parts)


def main() -> None:
    print(render(), end="")


if __name__ == "__main__":
    main()
