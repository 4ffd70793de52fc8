"""Command line: ``python -m dashboard COMMAND`` (honours ``DATABASE_URL``)."""
from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from typing import Sequence

from sqlmodel import select

from dashboard.lifecycle import SYSTEM
from dashboard import config
from dashboard.errors import DomainError
from dashboard.vocab import Role, codes
from db.engine import default_engine, migrate, read_session
from dashboard.services.unit_of_work import unit_of_work
from db.models import Unit


def _engine():
    engine = default_engine()
    migrate(engine)
    return engine


def cmd_init_db(_args) -> int:
    _engine()
    print("数据库已就绪 / database is at the newest schema")
    return 0


def cmd_seed_demo(_args) -> int:
    from seed.demo import seed_demo

    if config.is_production():
        print("生产模式下不生成演示数据（演示账号和演示问题）/ production mode: no demo data is created",
              file=sys.stderr)
        return 2

    if seed_demo(_engine()):
        print(f"演示数据已生成 / demo data created (demo password: {config.DEMO_PASSWORD})")
    else:
        print("数据库已有数据，未重复生成 / database already has data: nothing added")
    return 0


def _read_password(username: str) -> str:
    if sys.stdin.isatty():
        first = getpass.getpass(f"{username} 的密码 / password: ")
        second = getpass.getpass("再次输入 / again: ")
        if first != second:
            raise SystemExit("两次输入的密码不一致 / passwords differ")
        return first
    return sys.stdin.readline().rstrip("\n")


def cmd_create_user(args) -> int:
    from dashboard.services import admin

    engine = _engine()
    password = _read_password(args.username)
    with unit_of_work(engine) as session:
        unit_id = None
        if args.unit:
            unit = session.exec(select(Unit).where(Unit.name == args.unit)).first()
            if unit is None:
                print(f"找不到单位“{args.unit}” / unknown unit", file=sys.stderr)
                return 2
            unit_id = unit.id
        user = admin.create_user(session, SYSTEM, username=args.username, display_name=args.display_name or args.username,
                                 role=args.role, password=password, unit_id=unit_id)
    print(f"已创建用户 / created user {user.username} ({user.role})")
    return 0


def cmd_stats(args) -> int:
    from dashboard.services import rollups
    from dashboard.services.queries import stats

    engine = _engine()
    if args.verify or args.repair:
        return _verify_rollups(engine, repair=args.repair)
    rollups.refresh_if_stale(engine)
    with read_session(engine) as session:
        figures = stats(session)
    if args.json:
        print(json.dumps(figures, ensure_ascii=False, indent=2, default=str))
    else:
        for key, value in figures.items():
            if key != "by_unit":
                print(f"{key:>16}: {value}")
        for row in figures["by_unit"]:
            print(f"  {row['rank']:>2}. {row['unit']}: {row['closed']}/{row['total']} overdue {row['overdue']}")
    return 0


def _verify_rollups(engine, *, repair: bool) -> int:
    """Every roll-up row and figure against the base tables; with ``repair``, rebuild first."""
    from dashboard.services import rollups
    from db.engine import transaction

    if repair:
        with transaction(engine) as session:
            rollups.rebuild(session)
    rollups.refresh_if_stale(engine)  # what every reader does first: marked-stale sums are rebuilt, not read
    with read_session(engine) as session:
        drifts = rollups.verify(session)
    for drift in drifts:
        print(drift)
    if drifts:
        print(f"发现 {len(drifts)} 处不一致 / {len(drifts)} differences (figure, dimension, key, stored, actual)",
              file=sys.stderr)
        return 1
    print("汇总与明细一致 / roll-ups match the base tables")
    return 0


def cmd_report(args) -> int:
    """Word 整改情况报告 from a snapshot; without --snapshot, a new snapshot is taken first."""
    from dashboard.documents.report import report_for_snapshot
    from dashboard.services import snapshots

    engine = _engine()
    if args.snapshot is None:
        with unit_of_work(engine) as session:
            snapshot = snapshots.take_snapshot(session, SYSTEM, args.title or "整改情况报告快照")
    else:
        with read_session(engine) as session:
            snapshot = snapshots.get_snapshot(session, args.snapshot)
    with open(args.file, "wb") as out:
        out.write(report_for_snapshot(snapshot))
    print(f"报告已生成 / report written: {args.file} (snapshot {snapshot.id}, {snapshot.taken_at:%Y-%m-%d %H:%M})")
    return 0


def _operator(session):
    """The command line acts as the first active administrator (the audit log names them)."""
    from dashboard.services.common import actor_of
    from db.models import User

    admin = session.exec(select(User).where(User.role == Role.ADMIN.value, User.active == True)  # noqa: E712
                         .order_by(User.id)).first()
    if admin is None:
        raise SystemExit("需要先创建一个管理员账号 / create an admin user first (create-user NAME --role admin)")
    return actor_of(admin)


def cmd_export_ledger(args) -> int:
    from dashboard.documents.ledger_export import export_ledger

    with read_session(_engine()) as session, open(args.file, "wb") as out:
        count = export_ledger(session, _operator(session), out)
    print(f"已导出 {count} 条 / exported {count} findings to {args.file}")
    return 0


def cmd_import_ledger(args) -> int:
    """Read and check the whole file first (no transaction open), print the preview, then write in one short
    step. Unreadable file: one sentence, exit 2. Unreadable rows or unknown names: listed, exit 1. Nothing
    is written in either case."""
    from dashboard.services import imports

    engine = _engine()
    with open(args.file, "rb") as handle:
        data = handle.read()
    parsed = imports.read_ledger(data, default_year=args.year, filename=args.file)
    decisions = imports.decisions_from_pairs(args.map or [])
    with read_session(engine) as session:
        actor = _operator(session)
        preview = imports.preview_import(session, actor, parsed, decisions=decisions, filename=args.file)
    for message in preview.messages():
        print(message)
    for skipped in preview.skipped:
        print(f"第{skipped.excel_row}行未导入：{skipped.reason}")
    if preview.unchanged:
        print(f"{len(preview.unchanged)}行此前已导入且内容未变：第{'、'.join(str(s.excel_row) for s in preview.unchanged[:50])}行"
              + ("等" if len(preview.unchanged) > 50 else ""))
    for error in preview.errors:
        column = f"【{error.column}】" if error.column else ""
        print(f"第{error.excel_row}行{column}：{error.reason}", file=sys.stderr)
    for unknown in preview.unresolved:
        near = "、".join(unknown.suggestions) or "无"
        print(f"  --map {unknown.value}=…  （{len(unknown.rows)}行；最接近：{near}）", file=sys.stderr)
    if not preview.ok:
        print(f"共{len(preview.errors)}处问题，未导入任何数据 / nothing imported", file=sys.stderr)
        return 1

    def busy(attempt: int, wait: float) -> None:
        print(f"数据库正忙（其他人正在保存），{wait:.0f}秒后重试（第{attempt}次）/ database busy, retrying", file=sys.stderr)

    summary = imports.commit_retrying(engine, actor, preview, on_busy=busy, source_title=args.source or "",
                                      default_year=args.year, filename=args.file, decisions=decisions)
    print(f"{summary.text()} / imported {summary.imported}, updated {summary.updated}, "
          f"unchanged {summary.already_imported}, skipped {summary.skipped}")
    return 0


def cmd_synthetic(args) -> int:
    """Province-scale synthetic data into an empty database (for benchmarks and load tests)."""
    import datetime as dt
    import time

    from seed.synthetic import SyntheticSize, generate

    size = SyntheticSize(findings=args.findings, counties=args.counties, townships=args.townships,
                         villages=args.villages, units=args.units, sources=args.sources)
    started = time.perf_counter()
    counts = generate(_engine(), size, seed=args.seed,
                      today=dt.date.fromisoformat(args.today) if args.today else None)
    print(json.dumps({"seconds": round(time.perf_counter() - started, 1), **counts}, ensure_ascii=False))
    return 0


def cmd_backup(args) -> int:
    """A consistent copy while the app runs (SQLite backup API; PostgreSQL pg_dump custom format)."""
    from dashboard.i18n import t
    from dashboard.services import backup

    result = backup.backup(_engine(), args.file)
    params = dict(path=str(result.path), size=result.bytes, seconds=round(result.seconds, 1))
    print(f"{t('backup.done', 'zh', **params)} / {t('backup.done', 'en', **params)}")
    return 0


def cmd_restore(args) -> int:
    """Into an empty database; a database holding data only with --force. Roll-ups are rebuilt and checked."""
    from dashboard.i18n import t
    from dashboard.services import backup

    engine = default_engine()
    backup.restore(engine, args.file, force=args.force)
    migrate(engine)  # a backup from an older release is brought to this one's schema
    print(f"{t('backup.restored', 'zh', path=args.file)} / {t('backup.restored', 'en', path=args.file)}")
    return _verify_rollups(engine, repair=False)


def cmd_run(args) -> int:
    """Bring the schema up to date, add the demo data to an empty database, start the app."""
    from seed.demo import seed_demo

    engine = _engine()
    if not config.is_production() and seed_demo(engine):
        print(f"演示数据已生成，演示密码：{config.DEMO_PASSWORD}")
    app = config.PROJECT_ROOT / "dashboard" / "app.py"
    command = [sys.executable, "-m", "streamlit", "run", str(app), *server_options(engine, args)]
    os.chdir(config.PROJECT_ROOT)  # streamlit reads .streamlit/config.toml from here
    os.execv(sys.executable, command)  # become the server, so stopping this process stops it
    return 0


def server_options(engine, args) -> list[str]:
    """Streamlit's options: the address (127.0.0.1 unless the operator names another), the upload
    cap equal to the app's own limit, and in production no error details in the browser."""
    from dashboard.settings import load_settings

    with read_session(engine) as session:
        upload_mb = load_settings(session).max_upload_mb
    address = args.address or os.environ.get("DASHBOARD_ADDRESS", "").strip() or "127.0.0.1"
    options = ["--server.port", str(args.port), "--server.address", address, "--server.headless", "true",
               "--server.maxUploadSize", str(upload_mb)]
    if config.is_production():
        options += ["--client.showErrorDetails", "none", "--client.toolbarMode", "viewer"]
    return options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dashboard", description="督查整改台账")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("init-db", help="create or upgrade the schema").set_defaults(func=cmd_init_db)
    commands.add_parser("seed-demo", help="fill an empty database with demo data").set_defaults(func=cmd_seed_demo)
    create = commands.add_parser("create-user", help="add a user (password read without echo, or from stdin)")
    create.add_argument("username")
    create.add_argument("--role", required=True, choices=codes(Role))
    create.add_argument("--unit", help="unit name (required for department users)")
    create.add_argument("--display-name")
    create.set_defaults(func=cmd_create_user)
    stats = commands.add_parser("stats", help="the leadership figures")
    stats.add_argument("--json", action="store_true")
    stats.add_argument("--verify", action="store_true",
                       help="recompute every roll-up from the base tables; print each difference, exit 1 on any")
    stats.add_argument("--repair", action="store_true", help="rebuild the roll-ups, then verify")
    stats.set_defaults(func=cmd_stats)
    report = commands.add_parser("report", help="Word 整改情况报告 (.docx)")
    report.add_argument("file")
    report.add_argument("--snapshot", type=int, help="snapshot id (default: take one now)")
    report.add_argument("--title", help="title of the snapshot taken now")
    report.set_defaults(func=cmd_report)
    export = commands.add_parser("export-ledger", help="the whole ledger as .xlsx")
    export.add_argument("file")
    export.set_defaults(func=cmd_export_ledger)
    importer = commands.add_parser("import-ledger", help="import an existing ledger (.xlsx, .xls, .ods, .csv)")
    importer.add_argument("file")
    importer.add_argument("--source", required=True,
                          help="source title for rows without a 问题来源 of their own (created if missing)")
    importer.add_argument("--map", action="append", metavar="旧=新",
                          help="file a name as an existing unit, category or village (旧=其他 files a category "
                               "under 其他, keeping the text); remembered for the next ledger; repeatable")
    importer.add_argument("--create-categories", action="store_true",
                          help="create categories the database does not have (also the default: they are listed)")
    importer.add_argument("--year", type=int, help="year for dates written without one (9月底前)")
    importer.set_defaults(func=cmd_import_ledger)
    synthetic = commands.add_parser("synthetic", help="province-scale synthetic data into an empty database")
    synthetic.add_argument("--findings", type=int, required=True)
    synthetic.add_argument("--counties", type=int, default=100)
    synthetic.add_argument("--townships", type=int, default=1_500)
    synthetic.add_argument("--villages", type=int, default=20_000)
    synthetic.add_argument("--units", type=int, default=300)
    synthetic.add_argument("--sources", type=int, default=400)
    synthetic.add_argument("--seed", type=int, default=20261123)
    synthetic.add_argument("--today", help="reference date YYYY-MM-DD (default 2026-11-23)")
    synthetic.set_defaults(func=cmd_synthetic)
    backup = commands.add_parser("backup", help="a consistent copy of the database, evidence files included")
    backup.add_argument("file")
    backup.set_defaults(func=cmd_backup)
    restore = commands.add_parser("restore", help="restore a backup into an empty database")
    restore.add_argument("file")
    restore.add_argument("--force", action="store_true", help="replace a database that already holds data")
    restore.set_defaults(func=cmd_restore)
    run = commands.add_parser("run", help="start the web app")
    run.add_argument("--port", type=int, default=8501)
    run.add_argument("--address", help="address to listen on (default 127.0.0.1, or DASHBOARD_ADDRESS; "
                                       "0.0.0.0 only behind a TLS reverse proxy)")
    run.set_defaults(func=cmd_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except DomainError as error:
        print(f"{error.zh} / {error.en}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"无法读写文件 / cannot read or write the file: {error}", file=sys.stderr)
        return 2
