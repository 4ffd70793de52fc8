#!/usr/bin/env python3
"""Set up and run the project with nothing but Python installed.

    python3 dev.py start   # create .venv, install, build the demo database, open the app on 127.0.0.1
                           # (python3 dev.py start --address 0.0.0.0 only behind a TLS reverse proxy)
    python3 dev.py test    # create .venv, install, run the whole test suite on every core (pytest-xdist)
    python3 dev.py test -n 0 tests/test_x.py   # one process; any other pytest arguments pass through

Uses only the standard library so it works before anything is installed.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
STAMP = VENV / ".installed"


def ensure_environment() -> None:
    """Create the virtualenv and (re)install the project when pyproject.toml changed."""
    if not PYTHON.exists():
        print("创建虚拟环境 / creating .venv …", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    print("安装依赖 / installing dependencies …", flush=True)
    subprocess.check_call([str(PYTHON), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    subprocess.check_call([str(PYTHON), "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[test]"])
    STAMP.write_text(wanted)


def parallel(arguments: list[str]) -> list[str]:
    """One pytest-xdist worker per core, each test file whole on one worker (``--dist loadfile``): a file's browser
    tests share one server on fixed ports and follow one another. (``--dist loadgroup`` with the groups
    tests/conftest.py marks split test_deploy over both workers, two deployments on one port: not used until that
    is understood.) Unless the caller chose: ``-n``/``--numprocesses``, ``--dist`` or ``-p no:xdist``."""
    chosen = any(a in ("-n", "--numprocesses", "--dist", "no:xdist") or a.startswith(("-n", "--numprocesses=", "--dist="))
                 for a in arguments)
    return [] if chosen else ["-n", "auto", "--dist", "loadfile"]


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "start"
    ensure_environment()
    if command == "start":
        return subprocess.call([str(PYTHON), "-m", "dashboard", "run", *argv[1:]], cwd=ROOT)
    if command == "test":
        return subprocess.call([str(PYTHON), "-m", "pytest", *parallel(argv[1:]), *argv[1:]], cwd=ROOT)
    print(__doc__)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
