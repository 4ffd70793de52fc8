"""Backup and restore: a copy taken while writes run restores to a database whose figures equal the source's,
evidence files included, on SQLite and PostgreSQL; a database holding data is refused unless --force."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from dashboard.services import backup, queries, rollups
from dashboard.services import findings as svc
from dashboard.services.unit_of_work import unit_of_work
from db.engine import make_engine, migrate, read_session
from db.models import EvidenceContent, Finding
from tests.conftest import TEST_DATABASE_URL
from tests.factories import build_world, evidence, finding_input

ROOT = Path(__file__).resolve().parent.parent
PDF = b"%PDF-1.4 evidence " + bytes(range(256)) * 40


def _figures(engine) -> dict:
    rollups.refresh_if_stale(engine)
    with read_session(engine) as session:
        figures = json.loads(json.dumps(queries.stats(session), default=str))
    figures.pop("as_of", None)  # the moment each was read, not a figure
    return figures


def _counts(engine) -> tuple[int, list[bytes]]:
    with read_session(engine) as session:
        total = session.execute(select(func.count()).select_from(Finding)).scalar_one()
        blobs = list(session.execute(select(EvidenceContent.data).order_by(EvidenceContent.evidence_id)).scalars())
    return total, blobs


@pytest.fixture
def target(backend, tmp_path):
    """An empty database to restore into: a new SQLite file, or a new PostgreSQL database (the dump names its
    schema, which exists in the source's database)."""
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'restored.db'}")
        yield engine, f"sqlite:///{tmp_path / 'restored.db'}"
        engine.dispose()
        return
    name = f"restore_{uuid.uuid4().hex[:10]}"
    server = make_engine(TEST_DATABASE_URL)
    with server.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = TEST_DATABASE_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    yield engine, url
    engine.dispose()
    with server.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    server.dispose()


def _seed(engine) -> tuple:
    migrate(engine)
    with unit_of_work(engine) as session:
        world = build_world(session)
    for index in range(12):
        with unit_of_work(engine) as session:
            finding = svc.log_finding(session, world.actors["inspector"], finding_input(
                world, description=f"第{index}户低保档案不全", deadline=dt.date(2026, 7, 1 + index)))
        if index % 3 == 0:
            with unit_of_work(engine) as session:
                svc.attach_evidence(session, world.actors["jiuzhu"], finding.id,
                                    evidence(f"核查{index}.pdf", PDF + bytes([index])))
    return world


def test_a_backup_taken_while_writes_run_restores_with_equal_figures(engine, target, tmp_path):
    world = _seed(engine)
    before, _ = _counts(engine)
    stop = threading.Event()
    written: list[int] = []

    def writer():
        index = 0
        while not stop.is_set() and index < 200:
            with unit_of_work(engine) as session:
                written.append(svc.log_finding(session, world.actors["inspector"], finding_input(
                    world, description=f"并发写入{index}")).id)
            index += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 3:  # the backup starts while writes are under way
            stop.wait(0.01)
        file = tmp_path / "live.backup"
        backup.backup(engine, file)
        during = len(written)
        while len(written) < during + 3 and thread.is_alive():  # and go on after it
            stop.wait(0.01)
    finally:
        stop.set()
        thread.join()

    restored, url = target
    backup.restore(restored, file)
    migrate(restored)
    total, blobs = _counts(restored)
    assert before + 2 <= total <= before + during        # a point in the middle (the 3rd may not have committed)
    assert total < _counts(engine)[0]                     # later writes are not in it
    rollups.refresh_if_stale(restored)                      # what every reader does first (stats --verify too)
    with read_session(restored) as session:
        assert rollups.verify(session) == []                # the copy is not torn: roll-ups equal base tables
    assert blobs == _counts(engine)[1]                      # every evidence file, byte for byte

    # a backup once the writes stop gives exactly the source's figures
    quiet = tmp_path / "quiet.backup"
    backup.backup(engine, quiet)
    backup.restore(restored, quiet, force=True)
    assert _figures(restored) == _figures(engine)
    assert _counts(restored) == _counts(engine)


def test_restore_refuses_a_database_with_data_unless_forced(engine, target, tmp_path):
    _seed(engine)
    file = tmp_path / "one.backup"
    backup.backup(engine, file)
    restored, _url = target
    backup.restore(restored, file)
    with pytest.raises(backup.BackupError) as refused:
        backup.restore(restored, file)
    assert refused.value.key == "backup.not_empty"
    assert "--force" in refused.value.en
    backup.restore(restored, file, force=True)
    assert _counts(restored) == _counts(engine)
    with pytest.raises(backup.BackupError) as missing:
        backup.restore(restored, tmp_path / "nothing-here")
    assert missing.value.key == "backup.missing"


def test_nightly_backup_keeps_the_newest(engine, tmp_path):
    _seed(engine)
    folder = tmp_path / "nightly"
    (folder).mkdir()
    (folder / "notes.txt").write_text("not ours")
    for day in range(1, 6):
        backup.nightly_backup(engine, folder, keep=3, now=dt.datetime(2026, 11, day, 2, 0))
    kept = [p.name for p in backup.backups(folder)]
    assert len(kept) == 3 and kept[0].startswith("ledger-20261105-020000")
    assert (folder / "notes.txt").exists()                 # nothing of anyone else's is deleted
    assert oct(kept and (folder / kept[0]).stat().st_mode & 0o777) == "0o600"
    assert backup.latest_backup_age(folder) is not None


def test_cli_backup_and_restore(database_url, tmp_path):
    from tests.test_cli import cli_url

    env = {**os.environ, "DATABASE_URL": cli_url(database_url), "DASHBOARD_DATA_DIR": str(tmp_path / "var")}
    engine = make_engine(database_url[0], schema=database_url[1])
    _seed(engine)
    engine.dispose()
    file = tmp_path / "cli.backup"
    run = lambda *argv, **kw: subprocess.run([sys.executable, "-m", "dashboard", *argv], cwd=ROOT,  # noqa: E731 - a one-line helper read where it is used
                                             capture_output=True, text=True, timeout=300, **kw)
    done = run("backup", str(file), env=env)
    assert done.returncode == 0, done.stderr
    assert file.stat().st_size > 0
    refused = run("restore", str(file), env=env)       # the source itself holds data
    assert refused.returncode == 2 and "--force" in refused.stderr
    forced = run("restore", str(file), "--force", env=env)
    assert forced.returncode == 0, forced.stderr
    assert "一致" in forced.stdout                      # stats --verify ran clean after the restore
    assert "已从" in forced.stdout and "Restored" not in forced.stdout  # one language, not pairs
    english = run("--lang", "en", "backup", str(tmp_path / "en.backup"), env=env)
    assert english.stdout.startswith("Backup written to") and " / " not in english.stdout
