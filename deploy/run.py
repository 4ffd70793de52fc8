"""Run N app replicas (and the worker, and nginx) against one DATABASE_URL as plain processes.

    python deploy/run.py --replicas 2 --base-port 8501                       # replicas (+ worker) only
    python deploy/run.py --replicas 2 --nginx --https-port 8443 --http-port 8080 --cert C --key K
    python deploy/run.py render-nginx --upstream app1:8501 app2:8501 > nginx.conf   # the config only

The schema is migrated once before the replicas start. Each replica is ``python -m dashboard run --port P``
with ``DASHBOARD_REPLICA=P`` (its structured log lines say which one) and ``DASHBOARD_BEHIND_PROXY=1``;
``python -m dashboard worker`` runs too when this release has that command. The runner checks each replica's
``/_stcore/health`` every few seconds and restarts one that died or stopped answering; Ctrl-C or SIGTERM stops
everything. Logs go to ``--log-dir`` (one file per process).
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = Path(__file__).resolve().parent / "nginx.conf.template"
CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; frame-src 'self'; "
       "worker-src 'self' blob:; frame-ancestors 'self'; object-src 'none'; base-uri 'self'; form-action 'self'")
HEALTH_EVERY = 3.0
UNHEALTHY_AFTER = 3  # failed checks in a row before a live but silent replica is restarted


def render_nginx(upstreams: list[str], *, prefix: str, log_dir: str | None = None, https_listen: str = "443",
                 http_listen: str = "80", https_port: str | None = None, cert: str, key: str,
                 max_body_mb: int = 20, server_name: str = "_", mime_types: str = "/etc/nginx/mime.types") -> str:
    servers = "\n".join(f"        server {address} max_fails=1 fail_timeout=10s;" for address in upstreams)
    values = {"PREFIX": prefix, "LOG_DIR": log_dir or prefix, "UPSTREAM_SERVERS": servers,
              "HTTPS_LISTEN": https_listen, "HTTP_LISTEN": http_listen,
              "HTTPS_PORT": https_port or https_listen.rsplit(":", 1)[-1], "CERT": cert, "KEY": key,
              "MAX_BODY_MB": str(max_body_mb + 1), "SERVER_NAME": server_name, "CSP": CSP, "MIME_TYPES": mime_types}
    text = TEMPLATE.read_text(encoding="utf-8")
    for name, value in values.items():
        text = text.replace("{{" + name + "}}", value)
    assert "{{" not in text, "a placeholder was not filled"
    return text


def upload_limit_mb() -> int:
    """The app's own upload limit (setting max_upload_mb): nginx lets a little more through, Streamlit refuses."""
    sys.path.insert(0, str(ROOT))
    from dashboard.settings import load_settings
    from db.engine import default_engine, read_session

    with read_session(default_engine()) as session:
        return load_settings(session).max_upload_mb


def has_worker() -> bool:
    sys.path.insert(0, str(ROOT))
    from dashboard.cli import build_parser

    actions = [a for a in build_parser()._subparsers._group_actions]  # argparse keeps sub-commands here
    return any("worker" in action.choices for action in actions)


class Process:
    def __init__(self, name: str, command: list[str], env: dict, log_dir: Path, health: str | None = None):
        self.name, self.command, self.env, self.health = name, command, env, health
        self.log = log_dir / f"{name}.log"
        self.popen: subprocess.Popen | None = None
        self.failures = 0

    def start(self) -> None:
        handle = open(self.log, "ab")
        self.popen = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=handle, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        self.failures = 0
        print(f"started {self.name} (pid {self.popen.pid}), log {self.log}", flush=True)

    def healthy(self) -> bool:
        if self.popen is None or self.popen.poll() is not None:
            return False
        if self.health is None:
            return True
        try:
            with urllib.request.urlopen(self.health, timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", default="run", choices=["run", "render-nginx"])
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--base-port", type=int, default=8501)
    parser.add_argument("--upstream", nargs="+", help="render-nginx: host:port of each replica")
    parser.add_argument("--no-worker", action="store_true")
    parser.add_argument("--nginx", action="store_true", help="also start nginx in front (Debian's /usr/sbin/nginx)")
    parser.add_argument("--https-port", type=int, default=8443)
    parser.add_argument("--http-port", type=int, default=8080)
    parser.add_argument("--listen-address", default="127.0.0.1")
    parser.add_argument("--cert", help="TLS certificate (PEM); without one a self-signed pair is made for 127.0.0.1")
    parser.add_argument("--key")
    parser.add_argument("--server-name", default="_")
    parser.add_argument("--log-dir", default=str(ROOT / "var" / "log"))
    parser.add_argument("--prefix", default=str(ROOT / "var" / "nginx"), help="nginx's working folder")
    args = parser.parse_args(argv)

    if args.mode == "render-nginx":
        print(render_nginx(args.upstream or [], prefix="/var/cache/nginx", log_dir="/var/log/nginx",
                           cert=args.cert or "/etc/nginx/tls/fullchain.pem", key=args.key or "/etc/nginx/tls/privkey.pem",
                           max_body_mb=20, server_name=args.server_name))
        return 0

    log_dir = Path(args.log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "dashboard", "init-db"], cwd=ROOT, check=True)  # migrate once, first
    if os.environ.get("DASHBOARD_MODE", "demo") == "demo":  # once here, not raced by every replica at start
        subprocess.run([sys.executable, "-m", "dashboard", "seed-demo"], cwd=ROOT, check=True)
    processes = []
    for index in range(args.replicas):
        port = args.base_port + index
        env = {**os.environ, "DASHBOARD_REPLICA": str(port), "DASHBOARD_BEHIND_PROXY": "1",
               "DASHBOARD_HTTPS": os.environ.get("DASHBOARD_HTTPS", "1" if args.nginx else "0")}
        processes.append(Process(f"app-{port}", [sys.executable, "-m", "dashboard", "run", "--port", str(port)],
                                 env, log_dir, health=f"http://127.0.0.1:{port}/_stcore/health"))
    if not args.no_worker:
        if has_worker():
            processes.append(Process("worker", [sys.executable, "-m", "dashboard", "worker"],
                                     {**os.environ, "DASHBOARD_REPLICA": "worker"}, log_dir))
        else:
            print("this release has no `python -m dashboard worker`: no worker started", flush=True)
    if args.nginx:
        processes.append(nginx_process(args, log_dir))

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    for process in processes:
        process.start()
    time.sleep(10)  # first start: streamlit needs a few seconds before its health check answers
    try:
        while not stopping:
            for process in processes:
                if process.healthy():
                    process.failures = 0
                    continue
                process.failures += 1
                dead = process.popen is None or process.popen.poll() is not None
                if dead or process.failures >= UNHEALTHY_AFTER:
                    print(f"{process.name} is {'down' if dead else 'not answering'}: restarting", flush=True)
                    process.stop()
                    process.start()
            time.sleep(HEALTH_EVERY)
    finally:
        for process in reversed(processes):
            process.stop()
    return 0


def nginx_process(args, log_dir: Path) -> Process:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    prefix = Path(args.prefix)
    prefix.mkdir(parents=True, exist_ok=True)
    cert, key = args.cert, args.key
    if not cert:
        cert, key = str(prefix / "selfsigned.pem"), str(prefix / "selfsigned.key")
        if not Path(cert).exists():
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj",
                            "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                            "-keyout", key, "-out", cert], check=True, capture_output=True)
    upstreams = [f"127.0.0.1:{args.base_port + i}" for i in range(args.replicas)]
    conf = prefix / "nginx.conf"
    conf.write_text(render_nginx(upstreams, prefix=str(prefix), log_dir=str(log_dir),
                                 https_listen=f"{args.listen_address}:{args.https_port}",
                                 http_listen=f"{args.listen_address}:{args.http_port}", https_port=str(args.https_port),
                                 cert=cert, key=key, max_body_mb=upload_limit_mb(), server_name=args.server_name))
    return Process("nginx", [binary, "-p", str(prefix), "-c", str(conf), "-g", "daemon off; user root;"
                             if os.geteuid() == 0 else "daemon off;"], dict(os.environ), log_dir)


if __name__ == "__main__":
    raise SystemExit(main())
