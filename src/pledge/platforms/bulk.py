"""What the three example generators share: pools, timestamps, batched loading, progress.

A generator never calls Faker per row. Faker (seeded) builds small pools of names,
companies, addresses and text once; every other choice comes from one
``random.Random(seed)`` stream, so the same seed gives the same rows on every backend.

Rows go into per-table buffers as plain tuples in the table's column order and are
written with ``executemany`` on the raw DBAPI connection, one statement per table and
batch. On SQLite the load runs with bulk-load pragmas and builds the indexes after the
data is in; on PostgreSQL the id sequences are moved past the explicit ids at the end.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from faker import Faker
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    func,
    inspect,
    text,
)
from sqlalchemy.engine import Engine as SAEngine

from pledge.errors import InvalidInput
from pledge.policy.duration import Duration
from pledge.store import make_sa_engine

DAY = 86_400
HOUR = 3_600
#: Every timestamp falls within this many seconds before the reference date.
SPAN = 6 * 365 * DAY
#: Users generated (and flushed) together.
CHUNK = 2_000

USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/124.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Edg/124.0",
)


class PlatformError(InvalidInput):
    """A platform that cannot be built here: unknown name, or a database not empty."""


@dataclass
class Pools:
    """Fake values made once from a seeded Faker; rows pick from these."""

    first_names: list[str]
    last_names: list[str]
    companies: list[str]
    addresses: list[str]
    sentences: list[str]
    paragraphs: list[str]
    words: list[str]
    domains: list[str]
    cities: list[str]
    phone_prefix: str

    @classmethod
    def build(cls, seed: int, locale: str = "en_US", size: int = 400, phone_prefix: str = "+1") -> Pools:
        fake = Faker(locale)
        fake.seed_instance(seed)
        return cls(
            first_names=sorted({fake.first_name() for _ in range(size)}),
            last_names=sorted({fake.last_name() for _ in range(size)}),
            companies=[fake.company() for _ in range(size // 2)],
            addresses=[fake.address().replace("\n", ", ") for _ in range(size)],
            sentences=[fake.sentence(nb_words=10) for _ in range(size * 3)],
            paragraphs=[fake.paragraph(nb_sentences=4) for _ in range(size // 2)],
            words=sorted({w.lower() for w in fake.words(nb=size)}),
            domains=sorted({fake.free_email_domain() for _ in range(40)} | {fake.domain_name() for _ in range(40)}),
            cities=sorted({fake.city() for _ in range(size // 4)}),
            phone_prefix=phone_prefix,
        )


@dataclass
class Person:
    first: str
    last: str
    email: str

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"


class Gen:
    """Seeded choices that are cheap: ``random()`` arithmetic, not ``randint`` per row."""

    def __init__(self, seed: int, pools: Pools) -> None:
        self.rng = random.Random(seed)
        self.r = self.rng.random
        self.p = pools

    def pick(self, seq: Sequence[Any]) -> Any:
        return seq[int(self.r() * len(seq))]

    def between(self, lo: int, hi: int) -> int:
        """An integer in [lo, hi]."""
        return lo + int(self.r() * (hi - lo + 1))

    def person(self, n: int, domain: str | None = None) -> Person:
        """A fake person; ``n`` makes the email unique."""
        first, last = self.pick(self.p.first_names), self.pick(self.p.last_names)
        local = f"{first}.{last}".lower().replace(" ", "").replace("'", "")
        return Person(first, last, f"{local}{n}@{domain or self.pick(self.p.domains)}")

    def phone(self) -> str:
        return f"{self.p.phone_prefix}{self.between(200, 989)}{int(self.r() * 10_000_000):07d}"

    def ip(self) -> str:
        return f"{self.between(11, 223)}.{int(self.r() * 256)}.{int(self.r() * 256)}.{self.between(1, 254)}"

    def token(self, n: int = 24) -> str:
        return f"{self.rng.getrandbits(n * 4):0{n}x}"

    def birth_age(self, age_years: float) -> float:
        """Seconds ago of a birth date for someone ``age_years`` old at the reference date."""
        return age_years * 365.25 * DAY

    def ago_after(self, older: float, recent_share: float = 0.0, recent: float = 90 * DAY) -> float:
        """Seconds ago of a moment after ``older`` (also seconds ago), optionally mostly recent."""
        if recent_share and self.r() < recent_share:
            return self.r() * min(recent, older)
        return self.r() * older


class Loader:
    """Buffers rows per table and writes them in batches through the raw DBAPI connection."""

    def __init__(self, engine: SAEngine, metadata: MetaData, reference: datetime) -> None:
        self.engine = engine
        self.metadata = metadata
        self.dialect = engine.dialect.name
        self.buffers: dict[str, list[tuple[Any, ...]]] = {t: [] for t in metadata.tables}
        self.counts: dict[str, int] = dict.fromkeys(metadata.tables, 0)
        self.order = [t.name for t in metadata.sorted_tables]
        self._sql = {t.name: self._insert_sql(t.name) for t in metadata.sorted_tables}
        ref = reference.astimezone(UTC)
        self._ref_aware = ref
        self._ref_naive = ref.replace(tzinfo=None)
        self._ref_date = ref.date()
        self.ts: Callable[[float], Any] = self._ts_sqlite if self.dialect == "sqlite" else (
            self._ts_aware if self.dialect == "postgresql" else self._ts_naive)
        self._dbapi: Any = None
        self._sa_conn: Connection | None = None

    # -- values ------------------------------------------------------------------------
    def _ts_sqlite(self, ago: float) -> str:
        # SQLAlchemy's own SQLite DATETIME storage format, so reads and comparisons agree.
        return (self._ref_naive - timedelta(seconds=int(ago))).isoformat(" ") + ".000000"

    def _ts_aware(self, ago: float) -> datetime:
        return self._ref_aware - timedelta(seconds=int(ago))

    def _ts_naive(self, ago: float) -> datetime:
        return self._ref_naive - timedelta(seconds=int(ago))

    def day(self, ago: float) -> Any:
        d: date = self._ref_date - timedelta(days=int(ago // DAY))
        return d.isoformat() if self.dialect == "sqlite" else d

    def at(self, moment: datetime) -> Any:
        """An absolute (aware) moment, stored as :meth:`ts` stores its times."""
        return self.ts((self._ref_aware - moment.astimezone(UTC)).total_seconds())

    def on(self, d: date) -> Any:
        """A calendar date, stored as :meth:`day` stores its dates."""
        return d.isoformat() if self.dialect == "sqlite" else d

    # -- writing -------------------------------------------------------------------------
    def _insert_sql(self, name: str) -> str:
        table = self.metadata.tables[name]
        q = self.engine.dialect.identifier_preparer.quote
        cols = ", ".join(q(c.name) for c in table.columns)
        mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        return f"INSERT INTO {q(name)} ({cols}) VALUES ({', '.join([mark] * len(table.columns))})"

    def add(self, table: str, row: tuple[Any, ...]) -> None:
        self.buffers[table].append(row)

    def flush(self) -> None:
        cur = self._dbapi.cursor()
        try:
            for name in self.order:
                rows = self.buffers[name]
                if rows:
                    cur.executemany(self._sql[name], rows)
                    self.counts[name] += len(rows)
                    rows.clear()
        finally:
            cur.close()

    def execute_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """Run a raw statement (``?`` marks) for many rows, e.g. a batched UPDATE."""
        if not rows:
            return
        if self.engine.dialect.paramstyle != "qmark":
            sql = sql.replace("?", "%s")
        cur = self._dbapi.cursor()
        try:
            cur.executemany(sql, rows)
        finally:
            cur.close()

    def commit(self) -> None:
        self._dbapi.commit()

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    # -- the whole load ------------------------------------------------------------------
    @contextmanager
    def session(self) -> Iterator[Loader]:
        """Create the schema, hold one raw connection for the load, then index and finish."""
        deferred = self._create_schema()
        with self.engine.connect() as conn:
            self._sa_conn = conn
            self._dbapi = conn.connection.dbapi_connection
            if self.dialect == "sqlite":
                cur = self._dbapi.cursor()
                for pragma in ("synchronous=OFF", "cache_size=-262144", "temp_store=MEMORY"):
                    cur.execute(f"PRAGMA {pragma}")
                cur.close()
            elif self.dialect == "mysql":
                cur = self._dbapi.cursor()
                cur.execute("SET unique_checks=0")
                cur.close()
            yield self
            self.flush()
            self.commit()
            self._dbapi = None
        self._finish(deferred)

    def ensure_empty(self) -> None:
        """Refuse a database that already has tables: generation never mixes with real data."""
        with self.engine.connect() as conn:
            names = inspect(conn).get_table_names()
        if names:
            raise PlatformError(
                f"{self.engine.url.render_as_string(hide_password=True)} is not empty "
                f"({len(names)} tables, e.g. {sorted(names)[0]!r}); generate into a new, empty database"
            )

    def _create_schema(self) -> list[Index]:
        self.ensure_empty()
        with self.engine.begin() as conn:
            self.metadata.create_all(conn)
            deferred: list[Index] = []
            if self.dialect in ("sqlite", "postgresql"):
                # Building indexes once after the load is much faster than keeping them up to date.
                for table in self.metadata.sorted_tables:
                    for index in table.indexes:
                        index.drop(conn)
                        deferred.append(index)
        return deferred

    def _finish(self, deferred: list[Index]) -> None:
        with self.engine.begin() as conn:
            for index in deferred:
                index.create(conn)
            if self.dialect == "postgresql":
                for table in self.metadata.sorted_tables:
                    conn.execute(text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                        f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
                    ))
            # Fresh planner statistics: without them PostgreSQL may scan a freshly loaded
            # table instead of using its reference indexes.
            if self.dialect in ("mysql", "mariadb"):
                conn.exec_driver_sql("ANALYZE TABLE " + ", ".join(t.name for t in self.metadata.sorted_tables))
            else:
                conn.exec_driver_sql("ANALYZE")


@dataclass
class Run:
    """Progress and rate for one generation."""

    users: int
    show: bool
    console: Console = field(default_factory=lambda: Console(stderr=True))
    started: float = field(default_factory=time.perf_counter)
    _progress: Progress | None = None
    _task: Any = None
    _logged: int = 0

    def __enter__(self) -> Run:
        if self.show:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), console=self.console,
            )
            self._progress.start()
            self._task = self._progress.add_task("users", total=self.users, rate="")
        return self

    def advance(self, users_done: int, rows: int) -> None:
        if self._progress is None:
            return
        secs = max(time.perf_counter() - self.started, 1e-9)
        self._progress.update(self._task, completed=users_done, rate=f"{rows / secs:,.0f} rows/s")
        # Without a terminal the bar is not drawn: log a line every tenth of the way instead.
        tenth = users_done * 10 // max(self.users, 1)
        if not self.console.is_terminal and tenth > self._logged:
            self._logged = tenth
            self.console.print(f"{users_done:,}/{self.users:,} users, {rows:,} rows, {secs:,.0f} s "
                               f"({rows / secs:,.0f} rows/s)")

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def report(self, name: str, counts: dict[str, int]) -> None:
        secs = max(time.perf_counter() - self.started, 1e-9)
        rows = sum(counts.values())
        if self.show:
            self.console.print(
                f"{name}: {self.users:,} users, {rows:,} rows in {secs:,.1f} s "
                f"({rows / secs:,.0f} rows/s, {self.users / secs:,.0f} users/s)"
            )


#: Where boundary rows sit around a cutoff, in seconds from it: a day and an hour before it
#: (expired at the sweep's ``now``) and an hour and a day after it (still inside its period).
EDGES = (-DAY, -HOUR, HOUR, DAY)


class Boundary:
    """Rows placed around the retention cutoffs of a sweep at ``now``, added after the bulk rows.

    The bulk data spreads over six years before the reference date, so no row of it sits
    near a cutoff. A platform's ``boundary_rows(loader, now)`` uses this to add a small,
    deterministic set that does: for every clock, rows at each of :data:`EDGES` from its
    cutoff. Keys continue after the bulk rows (theirs are dense from 1).
    """

    def __init__(self, loader: Loader, now: datetime) -> None:
        self.w = loader
        self.now = (now if now.tzinfo else now.replace(tzinfo=UTC)).astimezone(UTC).replace(microsecond=0)
        loader.flush()
        self.ids = dict(loader.counts)

    def next(self, table: str) -> int:
        self.ids[table] += 1
        return self.ids[table]

    def add(self, table: str, **values: Any) -> int:
        """A row given by column name (absent columns are NULL); a new key unless ``id`` is given."""
        cols = self.w.metadata.tables[table].columns
        if "id" not in values:
            values["id"] = self.next(table)
        unknown = set(values) - {c.name for c in cols}
        if unknown:
            raise ValueError(f"{table} has no column {sorted(unknown)}")
        self.w.add(table, tuple(values.get(c.name) for c in cols))
        return int(values["id"])

    def at(self, moment: datetime) -> Any:
        return self.w.at(moment)

    def ago(self, seconds: float) -> datetime:
        return self.now - timedelta(seconds=seconds)

    def cutoff(self, period: str) -> datetime:
        """The cutoff of a clock of ``period`` (ISO 8601) at ``now``."""
        return Duration.parse(period).before(self.now)

    def around(self, cutoff: datetime) -> list[tuple[int, datetime]]:
        """(offset in seconds, moment) at each of :data:`EDGES` from ``cutoff``."""
        return [(edge, cutoff + timedelta(seconds=edge)) for edge in EDGES]

    def legal_edges(self, years: int) -> list[datetime]:
        """Issue moments around the end of a legal period of ``years`` counted from the end of
        the calendar year of issue: the last hour of the newest year already out, the first
        hour of the year after it (kept), and a day more than ``years`` before ``now``
        (kept only because the period runs from the year's end)."""
        out_year = self.now.year - years - 1
        return [datetime(out_year, 12, 31, 23, tzinfo=UTC), datetime(out_year + 1, 1, 1, 1, tzinfo=UTC),
                Duration(years=years).before(self.now) - timedelta(days=1)]

    def money(self, value: Any) -> Any:
        return str(value) if self.w.dialect == "sqlite" else value


def chunks(users: int, size: int = CHUNK) -> Iterator[tuple[int, int]]:
    """User id ranges [first, last] in generation order (ids start at 1)."""
    first = 1
    while first <= users:
        last = min(users, first + size - 1)
        yield first, last
        first = last + 1


def open_engine(url: str) -> SAEngine:
    return make_sa_engine(url)


# -- schema helpers shared by the three platform schemas ---------------------------------
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING)


def lower_indexes(*columns: Column[Any]) -> None:
    """Indexes on ``lower(column)`` for email identities, which Pledge matches
    case-insensitively (``pledge datamap check`` asks for them). PostgreSQL and SQLite only:
    MariaDB's default ``*_ci`` collation compares case-insensitively, so the column's own index
    serves there."""
    for col in columns:
        # a tuple of dialect names is documented; SQLAlchemy's annotation says str
        Index(f"ix_{col.table.name}_{col.name}_lower", func.lower(col)).ddl_if(
            dialect=("postgresql", "sqlite"))  # type: ignore[arg-type]


def pk() -> Column[int]:
    return Column("id", Integer, primary_key=True)


def created(index: bool = False) -> Column[datetime]:
    """``created_at``; indexed where a retention rule runs from it."""
    return Column("created_at", DateTime(timezone=True), nullable=False, index=index)


def stamp(name: str, index: bool = True, nullable: bool = True) -> Column[datetime]:
    """A UTC timestamp column; indexed by default because retention clocks run from them."""
    return Column(name, DateTime(timezone=True), nullable=nullable, index=index)


def fk(name: str, target: str, nullable: bool = False, ondelete: str | None = None,
       use_alter: bool = False) -> Column[int]:
    """An indexed foreign key column."""
    return Column(name, Integer, ForeignKey(target, ondelete=ondelete, use_alter=use_alter),
                  nullable=nullable, index=True)
