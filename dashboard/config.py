"""Run-time configuration read from the environment (one place for every knob)."""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TIMEZONE = os.environ.get("DASHBOARD_TIMEZONE", "Asia/Shanghai")
DEMO_PASSWORD = "demo1234"  # documented in the README; refused in production mode
DATA_DIR_ENV = "DASHBOARD_DATA_DIR"


def data_dir() -> Path:
    """The folder of the SQLite file and the demo cookie key: created 0700, and narrowed to 0700
    when an older one is readable by others (it holds password hashes and evidence files)."""
    path = Path(os.environ.get(DATA_DIR_ENV, PROJECT_ROOT / "var"))
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        if path.stat().st_mode & 0o077:
            path.chmod(0o700)
    except OSError:  # not ours to change: leave it to the operator
        pass
    return path


def backup_dir() -> Path:
    """Where the nightly backup goes: ``DASHBOARD_BACKUP_DIR``, default ``backups/`` in the data folder. An
    environment setting, not an admin page field: a web form must not choose where the server writes files."""
    configured = os.environ.get("DASHBOARD_BACKUP_DIR", "").strip()
    return Path(configured) if configured else data_dir() / "backups"


def database_url() -> str:
    """``DATABASE_URL`` if set (PostgreSQL for multi-user deployments), else the embedded SQLite file."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        return normalise_url(url)
    return f"sqlite:///{data_dir() / 'ledger.db'}"


def normalise_url(url: str) -> str:
    """Accept the usual ``postgres://`` / ``postgresql://`` forms and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def app_mode() -> str:
    """``demo`` (default: demo data, demo passwords accepted) or ``production``."""
    mode = os.environ.get("DASHBOARD_MODE", "demo").strip().lower()
    return "production" if mode in ("production", "prod") else "demo"


def is_production() -> bool:
    return app_mode() == "production"


def notify_urls() -> list[str]:
    """Default outbound channel for operators and tests: apprise URLs, comma-separated
    (``DASHBOARD_NOTIFY_URLS=json://127.0.0.1:8643/hook,mailto://…``). Never logged or shown."""
    raw = os.environ.get("DASHBOARD_NOTIFY_URLS", "")
    return [part.strip() for part in raw.split(",") if part.strip()]


def public_url() -> str:
    """Where users open the app, for the link in a digest (``DASHBOARD_PUBLIC_URL``)."""
    return os.environ.get("DASHBOARD_PUBLIC_URL", "http://localhost:8501").strip().rstrip("/")
