"""``python -m dashboard …`` as a process of its own, with the test suite's cheap password hashing.

The demo ledger has 18 users; at the application's Argon2id cost (``passwords.OWASP_COST``) hashing their
passwords takes a process about 0.3 s, and every sign-in to a server on that ledger checks such a hash. The
test process hashes at ``passwords.TEST_COST`` (conftest's ``_no_env_database``); ``cheap_hashing_command``
runs the same entry point as ``python -m dashboard`` (dashboard/__main__.py: ``raise SystemExit(cli.main())``)
with the same lowered cost, for a process that builds the demo and is not about passwords.
"""
from __future__ import annotations

import io
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout

_MAIN = ("from dashboard import passwords; passwords.COST = passwords.TEST_COST; "
         "from dashboard.cli import main; raise SystemExit(main())")


def cheap_hashing_command(*argv: str) -> list[str]:
    """The argument list of ``python -m dashboard *argv`` hashing passwords at the test suite's cost."""
    return [sys.executable, "-c", _MAIN, *argv]


def cli_here(*argv: str) -> subprocess.CompletedProcess:
    """``python -m dashboard *argv`` as ``cli.main`` in the test's process, with the process environment as it
    stands and an application engine of its own, disposed of afterwards: a second less than a new interpreter, for
    a test whose subject is the command's answer, not its process."""
    from dashboard import cli
    from db.engine import default_engine

    out, err = io.StringIO(), io.StringIO()
    default_engine.cache_clear()
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = cli.main(list(argv))
    finally:
        if default_engine.cache_info().currsize:
            default_engine().dispose()
        default_engine.cache_clear()
    return subprocess.CompletedProcess(["dashboard", *argv], code, out.getvalue(), err.getvalue())
