"""One way to open the database: `Database(url)`, with clear errors for bad or unreachable URLs."""

from __future__ import annotations

import time
from collections.abc import Iterable
from contextlib import contextmanager

from sqlalchemy import create_engine, event, inspect, select, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import (
    ArgumentError,
    IntegrityError,
    NoSuchModuleError,
    OperationalError,
    ProgrammingError,
    SQLAlchemyError,
)
from sqlalchemy.orm import Session, sessionmaker

from explorer.errors import ExplorerError
from explorer.storage.models import SCHEMA_VERSION, Base, SchemaInfo


class StorageError(ExplorerError):
    """The database cannot be opened, or holds something this version cannot use."""


class StudySettingsError(StorageError):
    """A study of that name exists, created with other evaluator settings (`settings`: this run's)."""

    settings: dict | None = None


def _safe(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


BUSY_TIMEOUT_MS = 30_000  # how long SQLite waits for another process's write lock


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets readers (dashboard) and one writer work at once; the busy timeout waits for a lock
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


class Database:
    """An opened database with the project's schema: `with db.session() as s: ...`."""

    def __init__(self, url: str, *, create: bool = True):
        self.url = url
        try:
            parsed = make_url(url)
            self.engine: Engine = create_engine(url, future=True, pool_pre_ping=True)
        except (ArgumentError, NoSuchModuleError, ModuleNotFoundError, ImportError) as e:
            raise StorageError(
                f"cannot use database URL {_safe(url)!r} ({e}); examples: sqlite:///explore.db, "
                "postgresql+psycopg://user:pass@host/db (install its driver first)"
            ) from None
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        # sqlite://, sqlite:/// and sqlite:///:memory: all open a database that lives in this process only
        self.in_memory = self.is_sqlite and parsed.database in (None, "", ":memory:")
        if self.is_sqlite and not create and parsed.database not in (None, "", ":memory:"):
            from pathlib import Path

            if not Path(parsed.database).is_file():
                raise StorageError(f"no database file at {parsed.database}: run `explorer search --db {url}` first")
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        try:
            with self.engine.connect() as conn:
                known = inspect(conn).has_table("schema_info")
            if not known and not create:
                raise StorageError(
                    f"database {_safe(url)} holds no skip-explorer results (no schema_info table): "
                    "check the URL, or run `explorer search` to fill it"
                )
            upgraded = known and self._check_version()  # upgrade before create_all adds new tables
            if create or upgraded:
                self._create_tables()
            if not known:
                self._stamp()
        except OperationalError as e:
            raise StorageError(
                f"cannot open database {_safe(url)}: {str(e.orig).strip()}; check that the server is "
                "running and the URL, user and password are right (for SQLite: that the folder exists)"
            ) from None

    def _create_tables(self) -> None:
        for attempt in range(3):
            try:
                with self.engine.connect() as conn:
                    Base.metadata.create_all(conn)
                    conn.commit()
                return
            except (IntegrityError, ProgrammingError):
                # workers started together on an empty PostgreSQL database race to create the same
                # table; the loser sees it exist on the next try
                if attempt == 2:
                    raise
                time.sleep(0.5 + attempt)

    def _stamp(self) -> None:
        with self.session() as s:
            if s.scalars(select(SchemaInfo)).first() is None:
                s.add(SchemaInfo(id=1, version=SCHEMA_VERSION))
                try:
                    s.commit()
                except IntegrityError:
                    s.rollback()  # another process wrote it first

    def _check_version(self) -> bool:
        """Refuse a newer schema, upgrade an older one; True if it upgraded."""
        with self.session() as s:
            row = s.scalars(select(SchemaInfo).with_for_update()).first()  # one upgrader at a time
            if row is None:
                return False  # created by a process that has not stamped it yet
            if row.version > SCHEMA_VERSION:
                raise StorageError(
                    f"database {_safe(self.url)} has schema version {row.version}, newer than this "
                    f"skip-explorer understands ({SCHEMA_VERSION}); upgrade skip-explorer"
                )
            if row.version < SCHEMA_VERSION:
                self._upgrade(s, row)
                return True
            return False

    def _upgrade(self, s: Session, row: SchemaInfo) -> None:
        """Bring an older schema up to date, one version at a time, in one transaction."""
        if row.version == 1:
            blob = "BYTEA" if self.engine.dialect.name == "postgresql" else "BLOB"
            s.execute(text(f"ALTER TABLE evaluations ADD COLUMN blob {blob}"))
            row.version = 2
        if row.version == 2:
            s.execute(text("CREATE INDEX IF NOT EXISTS ix_evaluation_config ON evaluations (checkpoint_id, config)"))
            row.version = 3
        if row.version == 3:
            # optuna keeps its own `studies` and `trials` tables in the same database; foreign keys
            # follow a renamed table in both SQLite (>= 3.26) and PostgreSQL. workers, claims and
            # jobs are new tables: create_all adds them after this upgrade.
            tables = set(inspect(s.connection()).get_table_names())
            for old, new in (("studies", "explorer_studies"), ("trials", "explorer_trials")):
                if old in tables and new not in tables:
                    s.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))
            row.version = 4
        s.commit()

    @contextmanager
    def session(self) -> Iterable[Session]:
        s = self._sessions()
        try:
            yield s
        except OperationalError as e:
            s.rollback()
            if self.is_sqlite and "locked" in str(e.orig):
                raise StorageError(
                    f"SQLite database {_safe(self.url)} stayed locked by other processes for "
                    f"{BUSY_TIMEOUT_MS / 1000:.0f} s: for many parallel workers use PostgreSQL "
                    "(--db postgresql+psycopg://user:pass@host/db), or fewer workers on this file"
                ) from None
            raise
        except SQLAlchemyError:
            s.rollback()
            raise
        finally:
            s.close()

    def insert_ignore(self, session: Session, model, rows: list[dict]) -> int:
        """Insert rows, silently skipping those that hit a unique constraint; returns rows inserted."""
        if not rows:
            return 0
        name = self.engine.dialect.name
        if name in ("sqlite", "postgresql"):
            if name == "sqlite":
                from sqlalchemy.dialects.sqlite import insert
            else:
                from sqlalchemy.dialects.postgresql import insert
            # Core insert through the session's connection: same transaction, and a real rowcount
            result = session.connection().execute(insert(model.__table__).on_conflict_do_nothing(), rows)
            return max(result.rowcount or 0, 0)
        inserted = 0
        for row in rows:  # portable fallback: one savepoint per row
            try:
                with session.begin_nested():
                    session.add(model(**row))
                inserted += 1
            except IntegrityError:
                pass
        return inserted

    def dispose(self) -> None:
        self.engine.dispose()
