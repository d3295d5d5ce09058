"""``pledge platform``: build the example platforms' databases with generated data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pledge.cli import app
from pledge.cli.common import ConfigOpt, console, fail, print_json
from pledge.settings import Config, ConfigError, Settings, default_config_path, load_config

platform_app = typer.Typer(help="The example platforms: create one filled with fake data, or list them.",
                           no_args_is_help=True)
app.add_typer(platform_app, name="platform")


@platform_app.command("create")
def create(
    name: Annotated[str | None, typer.Argument(help="Platform: omni-one, onetagger or onestepai. "
                                                    "Omit it with -c to use the config's platform.")] = None,
    url: Annotated[str | None, typer.Option("--url", help="SQLAlchemy URL of an EMPTY database, e.g. "
                                                          "sqlite:///platform.db or postgresql+psycopg://…")] = None,
    users: Annotated[int, typer.Option("--users", "-n", help="How many users (accounts) to generate.")] = 1_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives the same data.")] = 0,
    config: ConfigOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the row counts as JSON.")] = False,
    blobs: Annotated[bool, typer.Option("--blobs/--no-blobs",
                                        help="With a config: also write the files its rows describe, into the "
                                             "data map's stores (a folder beside it; PLEDGE_BLOBS_<NAME> "
                                             "moves one, e.g. to s3://bucket/prefix).")] = True,
) -> None:
    """Create a platform's schema in an empty database and fill it with seeded fake data
    (and, with a config whose data map declares stores, the uploaded files)."""
    from pledge.platforms import PlatformError, create_platform, get_platform

    if users < 1:
        fail(f"--users must be at least 1, not {users}")
    cfg = None
    if url is None or name is None:
        if config is None and name is not None:
            fail("give --url URL with a platform NAME, or -c CONFIG to use the config's platform and URL")
        try:
            cfg = load_config(config or default_config_path(), Settings())
        except ConfigError as exc:
            fail(str(exc))
        name = name or cfg.platform or cfg.name
        url = url or cfg.platform_url
    try:
        platform = get_platform(name)
        counts = create_platform(platform.name, url, users, seed=seed, progress=not quiet)
        if blobs and cfg is not None:
            counts.update({f"files ({t})": n for t, n in _write_blobs(cfg, platform.name, url).items()})
    except PlatformError as exc:
        fail(str(exc))
    if json_out:
        print_json(counts)
        return
    table = Table(title=f"{platform.name} at {url}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for t, n in counts.items():
        table.add_row(t, f"{n:,}")
    table.add_row("[bold]total", f"[bold]{sum(counts.values()):,}")
    console.print(table)


def _write_blobs(cfg: Config, name: str, url: str) -> dict[str, int]:
    """Write the files of the platform's rows into the config's data map's stores (#16)."""
    from pledge.blobs.base import BlobError
    from pledge.blobs.opened import BlobStores
    from pledge.datamap.blobs import base_dir_of
    from pledge.datamap.load import load_dataset
    from pledge.platforms.blobfiles import targets_for, write_blobs

    if not Path(cfg.dataset).exists():  # no data map yet: it declares no file stores either
        return {}
    dataset = load_dataset(cfg.dataset)
    if not dataset.stores:
        return {}
    stores = BlobStores(dataset, base_dir_of(cfg.dataset))
    try:
        return write_blobs(name, url, targets_for(dataset, {n: stores.get(n) for n in stores.names()}))
    except BlobError as exc:
        fail(f"the platform's rows are written, but not their files: {exc}")


@platform_app.command("list")
def list_platforms(
    config: ConfigOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the example platforms and their tables. (-c is accepted and ignored.)"""
    from pledge.platforms import PLATFORMS

    rows = [{"name": p.name, "description": p.description, "tables": list(p.metadata.tables)}
            for p in PLATFORMS.values()]
    if json_out:
        print_json(rows)
        return
    table = Table(title="example platforms")
    table.add_column("name")
    table.add_column("what it is")
    table.add_column("tables", justify="right")
    for row in rows:
        table.add_row(str(row["name"]), str(row["description"]), str(len(row["tables"])))
    console.print(table)
