"""Backup and restore of the whole database, evidence files included (they are rows of ``evidencecontent``).

SQLite: the online backup API copies a consistent image while the app keeps writing (readers and the
writer are not stopped; pages copied before a concurrent commit are copied again). PostgreSQL:
``pg_dump --format=custom`` of the application's schema, one consistent snapshot, restored with
``pg_restore --single-transaction``. ``restore`` refuses a database that already holds data unless
``force``. ``nightly_backup`` is what the worker calls: a dated file in a directory, the newest ``keep``
kept.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, text

from dashboard.errors import DomainError
from db.engine import after_bulk_load

log = logging.getLogger(__name__)

DATA_TABLES = ("finding", "app_user", "unit", "audit_log", "evidence_content", "snapshot", "source")
PREFIX = "ledger-"
SQLITE_SUFFIX = ".sqlite3"
POSTGRES_SUFFIX = ".pgdump"
TRGM_SCHEMA = "extensions"  # pg_trgm lives apart, so dropping or renaming the app's schema never drops it


class BackupError(DomainError):
    """A backup or restore could not be done; the key says why."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    bytes: int
    seconds: float


def is_empty(engine: Engine) -> bool:
    """No application data: the schema may exist (migrations ran) but holds no rows in the main tables."""
    with engine.connect() as connection:
        names = set(_tables(connection))
        for table in DATA_TABLES:
            if table in names and connection.execute(text(f'SELECT EXISTS (SELECT 1 FROM "{table}")')).scalar():
                return False
    return True


def _tables(connection) -> list[str]:
    if connection.dialect.name == "sqlite":
        return [r[0] for r in connection.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))]
    return [r[0] for r in connection.execute(text(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"))]


def backup(engine: Engine, path: str | Path) -> BackupResult:
    """A consistent copy of the database into ``path`` (written beside it, then renamed: never half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now()
    partial = path.with_name(f".{path.name}.partial")
    try:
        if engine.dialect.name == "sqlite":
            _sqlite_backup(engine, partial)
        else:
            _pg_dump(engine, partial)
        os.chmod(partial, 0o600)  # password hashes and evidence files: the owner only
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    seconds = (dt.datetime.now() - started).total_seconds()
    result = BackupResult(path, path.stat().st_size, seconds)
    log.info("backup written", extra={"event": "backup", "path": str(path), "bytes": result.bytes,
                                      "duration_ms": round(seconds * 1000)})
    return result


def restore(engine: Engine, path: str | Path, *, force: bool = False) -> None:
    """Replace the database's contents with the backup. Refuses a database holding data unless ``force``."""
    path = Path(path)
    if not path.is_file():
        raise BackupError("backup.missing", path=str(path))
    if not force and not is_empty(engine):
        raise BackupError("backup.not_empty")
    if engine.dialect.name == "sqlite":
        _sqlite_restore(engine, path)
    else:
        _pg_restore(engine, path)
    engine.dispose()  # pooled connections saw the old tables
    new_data_version(engine)
    log.info("restored", extra={"event": "restore", "path": str(path)})


def nightly_backup(engine: Engine, directory: str | Path, keep: int, *, now: dt.datetime | None = None) -> BackupResult:
    """One dated backup into ``directory``; then only the newest ``keep`` backups of ours are kept."""
    directory = Path(directory)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = (now or dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    suffix = SQLITE_SUFFIX if engine.dialect.name == "sqlite" else POSTGRES_SUFFIX
    result = backup(engine, directory / f"{PREFIX}{stamp}{suffix}")
    for old in backups(directory)[max(keep, 1):]:
        old.unlink(missing_ok=True)
    return result


def backups(directory: str | Path) -> list[Path]:
    """Our backups in ``directory``, newest first (the name holds the time, so it sorts)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    pattern = re.compile(rf"^{PREFIX}\d{{8}}-\d{{6}}({re.escape(SQLITE_SUFFIX)}|{re.escape(POSTGRES_SUFFIX)})$")
    return sorted((p for p in directory.iterdir() if pattern.match(p.name)), key=lambda p: p.name, reverse=True)


def latest_backup_age(directory: str | Path, *, now: dt.datetime | None = None) -> dt.timedelta | None:
    found = backups(directory)
    if not found:
        return None
    taken = dt.datetime.fromtimestamp(found[0].stat().st_mtime)
    return (now or dt.datetime.now()) - taken


# --- SQLite ----------------------------------------------------------------------------------------

def _sqlite_file(engine: Engine) -> str:
    database = engine.url.database
    if not database or database == ":memory:":
        raise BackupError("backup.no_file")
    return database


def new_data_version(engine: Engine) -> None:
    """Every replica's cached pages were built from the data the restore replaced: a new version (a backup from
    before the data version gets its row, with a new token, from the migration that follows)."""
    from sqlalchemy import inspect

    from dashboard.services import data_version, household_figures
    from dashboard.services.unit_of_work import unit_of_work
    from db.models import HouseholdTally

    tables = inspect(engine)
    if tables.has_table(data_version.TABLE):
        with unit_of_work(engine) as session:
            if tables.has_table(HouseholdTally.__tablename__):
                # counted again from the restored ledger: whatever the backup held, the tally equals its tables
                household_figures.touch_all(session)
            data_version.bump(session)


def _sqlite_backup(engine: Engine, target: Path) -> None:
    source = sqlite3.connect(_sqlite_file(engine), timeout=30)
    destination = sqlite3.connect(target)
    try:
        source.backup(destination, pages=1024)  # in steps: writers go on between them
        destination.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    finally:
        destination.close()
        source.close()


def _sqlite_restore(engine: Engine, path: Path) -> None:
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        if source.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            raise BackupError("backup.unreadable", path=str(path))
    except sqlite3.DatabaseError:
        raise BackupError("backup.unreadable", path=str(path)) from None
    engine.dispose()
    destination = sqlite3.connect(_sqlite_file(engine), timeout=30)
    try:
        source.backup(destination)
    finally:
        destination.close()
        source.close()


# --- PostgreSQL --------------------------------------------------------------------------------------

def _libpq(engine: Engine) -> tuple[str, dict]:
    """The connection string for pg_dump/pg_restore (no password in argv: PGPASSWORD in the environment)."""
    url = engine.url.set(drivername="postgresql")
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    url = url.set(password=None)
    query = {k: v for k, v in url.query.items() if k != "options"}
    return url.set(query=query).render_as_string(hide_password=False), env


def _tool(name: str, engine: Engine) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError("backup.no_tool", tool=name)
    output = subprocess.run([found, "--version"], capture_output=True, text=True).stdout
    client = int(re.search(r"\)\s*(\d+)", output).group(1))  # "pg_dump (PostgreSQL) 15.20 (Debian …)"
    with engine.connect() as connection:
        server = int(connection.execute(text("SHOW server_version_num")).scalar()) // 10000
    if client < server:  # pg_dump refuses a newer server; pg_restore may not read a newer dump format
        raise BackupError("backup.tool_version", tool=name, client=client, server=server)
    return found


def _schema(engine: Engine) -> str:
    with engine.connect() as connection:
        return connection.execute(text("SELECT current_schema()")).scalar()


def _pg_dump(engine: Engine, target: Path) -> None:
    url, env = _libpq(engine)
    command = [_tool("pg_dump", engine), "--format=custom", "--no-owner", "--no-privileges",
               f"--schema={_schema(engine)}", f"--file={target}", f"--dbname={url}"]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        log.error("pg_dump failed: %s", done.stderr.strip())
        raise BackupError("backup.failed", detail=done.stderr.strip()[:300])


def ensure_trigram(connection) -> bool:
    """pg_trgm in its own schema (needs the right to create an extension; without it search is just slower)."""
    try:
        with connection.begin_nested():
            connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {TRGM_SCHEMA}"))
            connection.execute(text(f"CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA {TRGM_SCHEMA}"))
        return True
    except Exception as error:  # noqa: BLE001 - reported, not fatal
        log.warning("pg_trgm is not available (%s): keyword search runs without its index", error)
        return False


def _pg_restore(engine: Engine, path: Path) -> None:
    url, env = _libpq(engine)
    tool = _tool("pg_restore", engine)
    listing = subprocess.run([tool, "--list", str(path)], capture_output=True, text=True)
    if listing.returncode:
        raise BackupError("backup.unreadable", path=str(path))
    source = _dumped_schema(listing.stdout)
    target = _schema(engine)
    with engine.begin() as connection:
        ensure_trigram(connection)
        if source != target and connection.execute(
                text("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = :n)"), {"n": source}).scalar():
            raise BackupError("backup.schema_taken", schema=source)
        for table in _tables(connection):  # empty (or --force): the backup's tables replace these
            connection.execute(text(f'DROP TABLE IF EXISTS "{table}" CASCADE'))
        for (sequence,) in connection.execute(text(
                "SELECT sequence_name FROM information_schema.sequences WHERE sequence_schema = current_schema()")):
            connection.execute(text(f'DROP SEQUENCE IF EXISTS "{sequence}" CASCADE'))
        if source != target:  # the dump names its schema: restore under that name, then give it ours
            connection.execute(text(f'ALTER SCHEMA "{target}" RENAME TO "{source}"'))
    keep = "\n".join(line for line in listing.stdout.splitlines() if not re.search(r"\bSCHEMA\b - ", line))
    with tempfile.NamedTemporaryFile("w", suffix=".list", delete=False) as handle:
        handle.write(keep + "\n")
    try:
        done = subprocess.run([tool, "--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error",
                               f"--use-list={handle.name}", f"--dbname={url}", str(path)],
                              env=env, capture_output=True, text=True)
    finally:
        os.unlink(handle.name)
        if source != target:
            with engine.begin() as connection:
                connection.execute(text(f'ALTER SCHEMA "{source}" RENAME TO "{target}"'))
    if done.returncode:
        log.error("pg_restore failed: %s", done.stderr.strip())
        raise BackupError("backup.failed", detail=done.stderr.strip()[:300])
    after_bulk_load(engine)  # statistics and the visibility map after a bulk load


def _dumped_schema(listing: str) -> str:
    for line in listing.splitlines():
        match = re.search(r"\bTABLE (?:DATA )?(\S+) ", line)
        if match and not line.startswith(";"):
            return match.group(1)
    raise BackupError("backup.unreadable", path="")
