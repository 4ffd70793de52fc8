"""Command line: ``python -m dashboard [--lang zh|en] COMMAND`` (honours ``DATABASE_URL``).

Every line is printed once, in the reader's language: ``--lang``, else ``DASHBOARD_LANG``, else Chinese.
Messages come from the catalogue with raw values; refusals are translated here, at the edge."""
from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Sequence

from sqlmodel import select

from dashboard.lifecycle import SYSTEM
from dashboard import config
from dashboard.errors import DomainError, Phrase
from dashboard.i18n import DEFAULT_LANGUAGE, LANGUAGES, t
from dashboard.vocab import Role, ScreenKind, codes
from db.engine import default_engine, migrate, read_session
from dashboard.services.unit_of_work import run_in_unit_of_work, unit_of_work
from dashboard.services.api_tokens import Scope as ApiScope
from db.models import Unit


LANG_ENV = "DASHBOARD_LANG"
_lang = DEFAULT_LANGUAGE  # the reader's language of this run, set by main()
# Words the help names as a ledger writes them (a column heading, a category, an undated deadline): data, in Chinese
# in both languages.
HELP_TERMS = {"env": LANG_ENV, "source_column": "问题来源", "other": "其他", "undated": "9月底前"}


def default_language() -> str:
    """``DASHBOARD_LANG`` when it names a language of the catalogue, else Chinese."""
    wanted = os.environ.get(LANG_ENV, "").strip().lower()
    return wanted if wanted in LANGUAGES else DEFAULT_LANGUAGE


def _language_asked(argv: Sequence[str] | None) -> str:
    """The language of this run before the arguments are parsed (the help texts are written in it):
    ``--lang X`` or ``--lang=X`` anywhere, else ``DASHBOARD_LANG``, else Chinese."""
    words = list(sys.argv[1:] if argv is None else argv)
    for index, word in enumerate(words):
        value = word.split("=", 1)[1] if word.startswith("--lang=") else (
            words[index + 1] if word == "--lang" and index + 1 < len(words) else None)
        if value in LANGUAGES:
            return value
    return default_language()


def say(key: str, *, err: bool = False, **params) -> None:
    """One catalogue message, printed in the reader's language."""
    print(t(key, _lang, **params), file=sys.stderr if err else sys.stdout)


def _engine():
    engine = default_engine()
    migrate(engine)
    return engine


def cmd_init_db(_args) -> int:
    _engine()
    say("cli.db_ready")
    return 0


def cmd_seed_demo(_args) -> int:
    from seed.demo import seed_demo

    if config.is_production():
        say("cli.no_demo_in_production", err=True)
        return 2

    if seed_demo(_engine()):
        say("cli.demo_created", password=config.DEMO_PASSWORD)
    else:
        say("cli.demo_exists")
    return 0


def _read_password(username: str) -> str:
    if sys.stdin.isatty():
        first = getpass.getpass(t("cli.password_prompt", _lang, username=username))
        second = getpass.getpass(t("cli.password_again", _lang))
        if first != second:
            raise SystemExit(t("cli.passwords_differ", _lang))
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
                say("cli.unknown_unit", err=True, name=args.unit)
                return 2
            unit_id = unit.id
        user = admin.create_user(session, SYSTEM, username=args.username, display_name=args.display_name or args.username,
                                 role=args.role, password=password, unit_id=unit_id)
    say("cli.user_created", username=user.username, role=Role(user.role))
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
    from dashboard.services import data_version, household_figures, rollups
    from db.engine import transaction

    if repair:
        with transaction(engine) as session:
            rollups.rebuild(session)
            household_figures.recount(session)
            data_version.bump(session)  # repaired sums: pages cached from the wrong ones are built again
    rollups.refresh_if_stale(engine)  # what every reader does first: marked-stale sums are rebuilt, not read
    with read_session(engine) as session:
        drifts = [*rollups.verify(session), *household_figures.verify(session)]
    for drift in drifts:
        print(drift)
    if drifts:
        say("cli.rollups_drift", err=True, count=len(drifts))
        return 1
    say("cli.rollups_exact")
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
    say("cli.report_written", file=args.file, snapshot=snapshot.id, at=f"{snapshot.taken_at:%Y-%m-%d %H:%M}")
    return 0


def cmd_lookback_report(args) -> int:
    """回头看情况报告: freeze the campaign's figures now, and write the report from that snapshot."""
    from dashboard.documents.lookback_report import build_lookback_report
    from dashboard.services import lookback

    engine = _engine()
    try:
        with unit_of_work(engine) as session:
            snapshot = lookback.freeze(session, SYSTEM, args.campaign_id)
            figures = snapshot.figures
    except DomainError as error:
        print(error.message(_lang), file=sys.stderr)
        return 2
    with open(args.file, "wb") as out:
        build_lookback_report(figures, out=out)
    totals = figures["totals"]
    say("cli.lookback_written", file=args.file, checked=totals["checked"], sampled=totals["sampled"],
        passed=totals["passed"], failed=totals["failed"])
    return 0


def cmd_export_ledger(args) -> int:
    from dashboard.documents.ledger_export import export_ledger

    with read_session(_engine()) as session, open(args.file, "wb") as out:
        count = export_ledger(session, SYSTEM, out)
    say("cli.exported", count=count, file=args.file)
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
    actor = SYSTEM  # the server's operator, as every command (the audit log names it ``system``)
    with read_session(engine) as session:
        preview = imports.preview_import(session, actor, parsed, decisions=decisions, filename=args.file,
                                         create_categories=args.create_categories)
    for message in preview.messages(_lang):
        print(message)
    for skipped in preview.skipped:
        say("cli.import_skipped", row=skipped.excel_row, reason=Phrase(skipped.key, skipped.params))
    if preview.unchanged:
        rows: list = [s.excel_row for s in preview.unchanged[:50]]
        if len(preview.unchanged) > 50:
            rows.append(Phrase("import.rows_more"))
        say("cli.import_unchanged", count=len(preview.unchanged), rows=rows)
    for error in preview.errors:
        phrase = imports.at_row(error)
        say(phrase.key, err=True, **phrase.params)
    for unknown in preview.unresolved:
        say("cli.map_hint" if unknown.suggestions else "cli.map_hint_no_near", err=True, name=unknown.value,
            count=len(unknown.rows), near=unknown.suggestions)
    if not preview.ok:
        say("cli.nothing_imported", err=True, count=len(preview.errors))
        return 1

    def busy(attempt: int, wait: float) -> None:
        say("cli.busy_retry", err=True, wait=f"{wait:.0f}", attempt=attempt)

    summary = imports.commit_retrying(engine, actor, preview, on_busy=busy, source_title=args.source or "",
                                      default_year=args.year, filename=args.file, decisions=decisions,
                                      create_categories=args.create_categories)
    say("cli.imported", summary=summary.message(_lang))
    return 0


def cmd_import_households(args) -> int:
    """The national system's export into the household ledger: read and checked whole first (no transaction
    open); broken rows or unknown places are listed and nothing is written (exit 1); else one write."""
    from dashboard.services import household_import

    engine = _engine()
    with open(args.file, "rb") as handle:
        data = handle.read()
    with read_session(engine) as session:
        actor = SYSTEM
        preview = household_import.preview_households(session, actor, data, filename=args.file, year=args.year)
    if not preview.ok:
        for message in preview.messages(_lang):
            print(message, file=sys.stderr)
        say("cli.nothing_imported", err=True, count=len(preview.parsed.errors) + len(preview.unknown_places))
        return 1
    summary = run_in_unit_of_work(engine, household_import.commit_households, actor, preview)
    say("cli.hh_imported", created=summary.created, updated=summary.updated, unchanged=summary.unchanged,
        members=summary.members, skipped=summary.skipped, flagged=summary.flagged_ids,
        twice=summary.in_two_households)
    for line in summary.messages(_lang):   # households with an open procedure: their state was kept
        print(line)
    return 0


def cmd_export_households(args) -> int:
    """The household ledger in the national layout; IDs and phones masked unless --unmasked (the command line
    acts as the administrator: every household in an unmasked file is audited as revealed)."""
    from dashboard.services import household_export

    with open(args.file, "wb") as out, unit_of_work(_engine()) as session:
        rows = household_export.export_households(session, SYSTEM, out, unmasked=args.unmasked)
    say("cli.hh_exported", rows=rows, path=args.file)
    return 0


def cmd_synthetic(args) -> int:
    """Province-scale synthetic data into an empty database (for benchmarks and load tests)."""
    import datetime as dt
    import time

    from seed.synthetic import SyntheticSize, generate

    size = SyntheticSize(findings=args.findings, counties=args.counties, townships=args.townships,
                         villages=args.villages, units=args.units, sources=args.sources, households=args.households)
    started = time.perf_counter()
    counts = generate(_engine(), size, seed=args.seed,
                      today=dt.date.fromisoformat(args.today) if args.today else None)
    print(json.dumps({"seconds": round(time.perf_counter() - started, 1), **counts}, ensure_ascii=False))
    return 0


def cmd_backup(args) -> int:
    """A consistent copy while the app runs (SQLite backup API; PostgreSQL pg_dump custom format)."""
    from dashboard.services import backup

    result = backup.backup(_engine(), args.file)
    say("backup.done", path=str(result.path), size=result.bytes, seconds=round(result.seconds, 1))
    return 0


def cmd_restore(args) -> int:
    """Into an empty database; a database holding data only with --force. Roll-ups are rebuilt and checked."""
    from dashboard.services import backup

    engine = default_engine()
    backup.restore(engine, args.file, force=args.force)
    migrate(engine)  # a backup from an older release is brought to this one's schema
    backup.new_data_version(engine)  # again: an older backup had no data version before the migration
    say("backup.restored", path=args.file)
    return _verify_rollups(engine, repair=False)


def cmd_run(args) -> int:
    """Bring the schema up to date, add the demo data to an empty database, start the app."""
    from seed.demo import seed_demo

    engine = _engine()
    if not config.is_production() and seed_demo(engine):
        say("cli.demo_created", password=config.DEMO_PASSWORD)
    server = config.PROJECT_ROOT / "dashboard" / "server.py"  # st.App: Streamlit's pages and our routes, uvicorn
    command = [sys.executable, "-m", "streamlit", "run", str(server), *server_options(engine, args)]
    os.chdir(_streamlit_config_folder())  # streamlit reads .streamlit/config.toml from the current folder
    os.execv(sys.executable, command)  # become the server, so stopping this process stops it
    return 0


def _streamlit_config_folder() -> Path:
    """The checkout this package runs from; an installed package (the container image) has no .streamlit beside
    it, and is started from the folder that has one (the image's WORKDIR)."""
    if (config.PROJECT_ROOT / ".streamlit" / "config.toml").exists():
        return config.PROJECT_ROOT
    return Path.cwd()


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


def cmd_api_token_create(args) -> int:
    """A token for /api/v1, printed once (only its hash is kept)."""
    from dashboard.services import api_tokens

    engine = _engine()
    with unit_of_work(engine) as session:
        token = api_tokens.create(session, SYSTEM, args.name, args.scope, args.unit, args.days)
    say("cli.api_token_created", name=args.name)
    print(token)
    return 0


def cmd_api_token_revoke(args) -> int:
    from dashboard.services import api_tokens

    with unit_of_work(_engine()) as session:
        api_tokens.revoke(session, SYSTEM, args.name)
    say("cli.api_token_revoked", name=args.name)
    return 0


def cmd_households_check(args) -> int:
    """数据质量核查: every rule of ``services.quality`` over the household ledger, run now and stored (the 数据质量 page
    then shows this run); printed for one township or all."""
    from dashboard.services import quality

    engine = _engine()
    quality.refresh_in(engine, SYSTEM)
    with read_session(engine) as session:
        report = quality.stored_report(session, township=args.township)
    assert report is not None  # stored just now
    if args.json:
        print(json.dumps(quality.as_json(report, lambda rule_id: t(f"quality_rule.{rule_id}", _lang)),
                         ensure_ascii=False, indent=2))
        return 0
    for result in report.results:
        severity = t(f"quality_severity.{result.rule.severity}", _lang)
        print(f"{result.count:>7}  {severity}  {result.rule.id:<22} {t(f'quality_rule.{result.rule.id}', _lang)}")
    return 0


def cmd_screen_list(args) -> int:
    """应纳未纳 screening of one department list, as the operator (``SYSTEM``)."""
    from dashboard import clock
    from dashboard.screening_reader import read_list
    from dashboard.services import screening

    path = Path(args.file)
    listed = read_list(path.read_bytes(), path.name, args.kind, clock.today())
    with unit_of_work(_engine()) as session:
        run = screening.screen(session, SYSTEM, listed, list_name=path.name)
        counts = screening.counts(run)
    if args.json:
        print(json.dumps(counts, ensure_ascii=False))
    else:
        for name, value in counts.items():
            print(f"{name:>16}: {value}")
    return 0


def cmd_monitoring_report(args) -> int:
    """月度监测通报 of one month as a Word document."""
    from dashboard.documents.bulletin import bulletin_docx
    from dashboard.services import quality

    period = quality.month_period(args.month)
    made = run_in_unit_of_work(_engine(), quality.monthly_bulletin, SYSTEM, period)  # frozen once the month is over
    Path(args.file).write_bytes(bulletin_docx(made, _lang))
    say("cli.bulletin_written", file=args.file, townships=max(len(made.rows) - 1, 0))
    return 0


def cmd_remind(args) -> int:
    """One pass of the daily jobs (roll-ups, reminders, digests, sending), for cron; safe to repeat."""
    import datetime as dt

    from dashboard import clock
    from dashboard.services import jobs

    engine = _engine()
    if args.date:
        with clock.frozen(dt.datetime.combine(dt.date.fromisoformat(args.date), clock.now().time())):
            result = jobs.run_once(engine)
    else:
        result = jobs.run_once(engine)
    print(json.dumps(result, ensure_ascii=False))
    return 0


def cmd_worker(_args) -> int:
    """Run the scheduled jobs until stopped (APScheduler; each run claimed in the database)."""
    from dashboard import worker

    return worker.run(_engine())


def cmd_income_line(args) -> int:
    """监测收入标准 of one year, set as the operator (``SYSTEM``; the audit log names it ``system``)."""
    from dashboard.services import households

    with unit_of_work(_engine()) as session:
        households.set_income_line(session, SYSTEM, args.year, args.yuan)
    say("cli.income_line_set", year=args.year, yuan=args.yuan)
    return 0


def cmd_notify_channel(args) -> int:
    """Set a unit's (or the default) outbound channel from an apprise URL, as the system administrator."""
    from dashboard.lifecycle import SYSTEM
    from dashboard.services import delivery

    engine = _engine()
    with unit_of_work(engine) as session:
        unit_id = None
        if args.unit:
            unit = session.exec(select(Unit).where(Unit.name == args.unit)).first()
            if unit is None:
                say("cli.unknown_unit", err=True, name=args.unit)
                return 2
            unit_id = unit.id
        row = delivery.set_channel(session, SYSTEM, unit_id, "apprise", {"url": args.url})
        say("cli.channel_set", unit=args.unit or Phrase("cli.default_channel"), masked=row.masked)
    return 0


def build_parser(lang: str | None = None) -> argparse.ArgumentParser:
    """The commands and their options; the help texts in ``lang`` (default: the reader's language)."""
    lang = lang or default_language()

    def h(key: str) -> str:
        return t(f"cli_help.{key.replace('-', '_')}", lang, **HELP_TERMS).replace("%", "%%")  # argparse formats help with %

    # --lang is accepted before the command (python -m dashboard --lang en import-ledger …) and after it;
    # on a sub-command its default is left out, so that the value given before the command stands.
    language = argparse.ArgumentParser(add_help=False)
    language.add_argument("--lang", choices=LANGUAGES, default=argparse.SUPPRESS, help=h("lang"))
    parser = argparse.ArgumentParser(prog="python -m dashboard", description=t("cli_help.program", lang))
    parser.add_argument("--lang", choices=LANGUAGES, default=None, help=h("lang"))
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, **options) -> argparse.ArgumentParser:
        return commands.add_parser(name, parents=[language], help=h(name), description=h(name), **options)

    command("init-db").set_defaults(func=cmd_init_db)
    command("seed-demo").set_defaults(func=cmd_seed_demo)
    create = command("create-user")
    create.add_argument("username")
    create.add_argument("--role", required=True, choices=codes(Role))
    create.add_argument("--unit", help=h("unit_of_user"))
    create.add_argument("--display-name")
    create.set_defaults(func=cmd_create_user)
    stats = commands.add_parser("stats", help=h("stats"), description=h("stats"))  # --lang before the command
    stats.add_argument("--json", action="store_true", help=h("json"))
    stats.add_argument("--verify", action="store_true", help=h("verify"))
    stats.add_argument("--repair", action="store_true", help=h("repair"))
    stats.set_defaults(func=cmd_stats)
    report = command("report")
    report.add_argument("file")
    report.add_argument("--snapshot", type=int, help=h("snapshot"))
    report.add_argument("--title", help=h("title"))
    report.set_defaults(func=cmd_report)
    lookback_report = command("lookback-report")
    lookback_report.add_argument("campaign_id", type=int)
    lookback_report.add_argument("file")
    lookback_report.set_defaults(func=cmd_lookback_report)
    export = command("export-ledger")
    export.add_argument("file")
    export.set_defaults(func=cmd_export_ledger)
    importer = command("import-ledger")
    importer.add_argument("file")
    importer.add_argument("--source", required=True, help=h("source"))
    importer.add_argument("--map", action="append", metavar=t("cli_help.map_metavar", lang), help=h("map"))
    importer.add_argument("--create-categories", action=argparse.BooleanOptionalAction, default=True,
                          help=h("create_categories"))
    importer.add_argument("--year", type=int, help=h("year"))
    importer.set_defaults(func=cmd_import_ledger)
    exporter = command("export-households")
    exporter.add_argument("file")
    exporter.add_argument("--unmasked", action="store_true", help=h("hh_unmasked"))
    exporter.set_defaults(func=cmd_export_households)
    households = command("import-households")
    households.add_argument("file")
    households.add_argument("--year", type=int, help=h("hh_year"))
    households.set_defaults(func=cmd_import_households)
    synthetic = command("synthetic")
    synthetic.add_argument("--findings", type=int, required=True)
    synthetic.add_argument("--counties", type=int, default=100)
    synthetic.add_argument("--townships", type=int, default=1_500)
    synthetic.add_argument("--villages", type=int, default=20_000)
    synthetic.add_argument("--units", type=int, default=300)
    synthetic.add_argument("--sources", type=int, default=400)
    synthetic.add_argument("--households", type=int, default=0, help=h("hh_households"))
    synthetic.add_argument("--seed", type=int, default=20261123)
    synthetic.add_argument("--today", help=h("today"))
    synthetic.set_defaults(func=cmd_synthetic)
    check = command("households-check")
    check.add_argument("--json", action="store_true", help=h("json"))
    check.add_argument("--township", help=h("township"))
    check.set_defaults(func=cmd_households_check)
    screen = command("screen-list")
    screen.add_argument("file")
    screen.add_argument("--kind", required=True, choices=codes(ScreenKind), help=h("screen_kind"))
    screen.add_argument("--json", action="store_true", help=h("json"))
    screen.set_defaults(func=cmd_screen_list)
    bulletin = command("monitoring-report")
    bulletin.add_argument("month", help=h("bulletin_month"))
    bulletin.add_argument("file")
    bulletin.set_defaults(func=cmd_monitoring_report)
    remind = command("remind")
    remind.add_argument("--once", action="store_true", required=True, help=h("once"))
    remind.add_argument("--date", help=h("date"))
    remind.set_defaults(func=cmd_remind)
    command("worker").set_defaults(func=cmd_worker)
    income_line = command("income-line")
    income_line.add_argument("year", type=int)
    income_line.add_argument("yuan", type=int)
    income_line.set_defaults(func=cmd_income_line)
    channel = command("notify-channel")
    channel.add_argument("url")
    channel.add_argument("--unit", help=h("unit_of_channel"))
    channel.set_defaults(func=cmd_notify_channel)
    backup = command("backup")
    backup.add_argument("file")
    backup.set_defaults(func=cmd_backup)
    restore = command("restore")
    restore.add_argument("file")
    restore.add_argument("--force", action="store_true", help=h("force"))
    restore.set_defaults(func=cmd_restore)
    token = command("api-token")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    token_create = token_commands.add_parser("create", help=h("api_token_create"), description=h("api_token_create"))
    token_create.add_argument("name")
    token_create.add_argument("--scope", action="append", required=True, choices=[str(s) for s in ApiScope],
                              help=h("scope"))
    token_create.add_argument("--unit", action="append", default=[], help=h("token_unit"))
    token_create.add_argument("--days", type=int, default=90, help=h("days"))
    token_create.set_defaults(func=cmd_api_token_create)
    token_revoke = token_commands.add_parser("revoke", help=h("api_token_revoke"), description=h("api_token_revoke"))
    token_revoke.add_argument("name")
    token_revoke.set_defaults(func=cmd_api_token_revoke)
    run = command("run")
    run.add_argument("--port", type=int, default=8501)
    run.add_argument("--address", help=h("address"))
    run.set_defaults(func=cmd_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    global _lang
    args = build_parser(_language_asked(argv)).parse_args(argv)
    _lang = args.lang or default_language()
    try:
        return args.func(args)
    except DomainError as error:
        print(error.message(_lang), file=sys.stderr)
        return 2
    except OSError as error:
        say("cli.file_error", err=True, error=error)
        return 2
