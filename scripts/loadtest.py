"""Bounded load test: simulated users speaking Streamlit's own WebSocket protocol through nginx.

    python scripts/loadtest.py https://127.0.0.1:8650 --users 50 --duration 120 [--out result.json]

Each simulated user opens the app like a browser does (GET /, which also sets nginx's sticky cookie, then the
WebSocket /_stcore/stream), signs in through the login form (the same widget messages the browser sends, then
the one-time ticket to /auth/session and a new WebSocket with the session cookie, as the browser's reload),
then walks overview → ledger → finding detail (looked up by a serial the user may see) again and again, with
a think time between pages, until ``--duration`` is over; then it stops by itself and prints JSON.

A "page time" is what the user waits for: from sending the rerun message (the click) until the server's
``script_finished`` message, i.e. the page script's whole run plus every element it sends, through nginx and
TLS. The browser's drawing is not included (see scripts/benchmark.py for Chromium's time to an interactive
overview). Errors: an exception or error box in the page, a script that did not finish, a lost connection, a
timeout (``--page-timeout``). ``--replica-pids PID …`` (the replicas' server processes, e.g. from
``pgrep -f "server.port 885"``) adds what they cost: CPU-seconds used during the run (user + system, from
/proc/PID/stat) per page view, with and without the sign-ins' share (``--sign-in-cpu`` seconds each: the
password hash), and each replica's largest resident memory, sampled every second. Loopback only: the script
refuses any host but 127.0.0.1/localhost.

Accounts: ``--users`` sessions over the synthetic data set's accounts (leader, inspector, dept<N>; password
demo1234), or ``--accounts a,b,c``.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import ssl
import statistics
import sys
import time
import urllib.error
import urllib.request
from collections import defaultdict
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402 - after the path set-up above
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402 - after the path set-up above
from websockets.asyncio.client import connect as websocket_connect  # noqa: E402 - after the path set-up above

PASSWORD = "demo1234"
TOUR = ("overview", "ledger", "finding")
UNEXPECTED = ("系统出现意外错误", "An unexpected error", "Traceback")  # ui.unexpected_error, and a raw traceback


class PageError(Exception):
    pass


class SimulatedUser:
    def __init__(self, base: str, username: str, serial: str | None, timeout: float):
        self.base, self.username, self.serial, self.timeout = base, username, serial, timeout
        self.ws = None
        self.pages: dict[str, str] = {}      # url path -> page script hash (from the navigation message)
        self.widgets: dict[str, tuple[str, object]] = {}  # label or key -> (widget id, proto)
        self.cookie = ""
        self.ticket = ""  # the one-time ticket the sign-in hands to /auth/session

    def _http_cookies(self) -> str:
        """GET / as a browser does: nginx's sticky cookie and Streamlit's XSRF cookie come back."""
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        with urllib.request.urlopen(self.base + "/", context=context, timeout=self.timeout) as response:
            jar = SimpleCookie()
            for header in response.headers.get_all("Set-Cookie") or []:
                jar.load(header)
            response.read()
        return "; ".join(f"{key}={morsel.value}" for key, morsel in jar.items())

    async def connect(self, extra_cookie: str = "") -> None:
        self.cookie = await asyncio.get_running_loop().run_in_executor(None, self._http_cookies)
        if extra_cookie:
            self.cookie += "; " + extra_cookie
        url = self.base.replace("https://", "wss://").replace("http://", "ws://") + "/_stcore/stream"
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # the loopback self-signed certificate
        self.ws = await websocket_connect(url, additional_headers={"Cookie": self.cookie}, subprotocols=["streamlit"],
                                          ssl=context if url.startswith("wss") else None, max_size=None,
                                          open_timeout=self.timeout)

    async def run(self, page: str = "", widgets: list | None = None) -> float:
        """One rerun: send it, read until the script finishes. Returns the seconds waited."""
        message = BackMsg()
        state = message.rerun_script
        state.query_string = ""
        state.page_name = page
        if page and page in self.pages:
            state.page_script_hash = self.pages[page]
        for widget in widgets or []:
            state.widget_states.widgets.append(widget)
        started = time.perf_counter()
        await self.ws.send(message.SerializeToString())
        problems = []
        while True:
            raw = await asyncio.wait_for(self.ws.recv(), timeout=self.timeout)
            forward = ForwardMsg()
            forward.ParseFromString(raw)
            kind = forward.WhichOneof("type")
            if kind == "navigation":
                self.pages = {p.url_pathname: p.page_script_hash for p in forward.navigation.app_pages}
            elif kind == "delta" and forward.delta.WhichOneof("type") == "new_element":
                self._element(forward.delta.new_element, problems)
            elif kind == "script_finished":
                status = forward.script_finished
                if status == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    continue  # the script asked for a rerun: the user waits for that one too
                if status != ForwardMsg.FINISHED_SUCCESSFULLY:
                    raise PageError(f"script finished with status {status}")
                break
        if problems:
            raise PageError("; ".join(problems)[:300])
        return time.perf_counter() - started

    def _element(self, element, problems: list) -> None:
        kind = element.WhichOneof("type")
        if kind == "exception":
            problems.append(f"exception: {element.exception.type}: {element.exception.message[:100]}")
        elif kind == "alert" and element.alert.format == element.alert.ERROR and any(
                marker in element.alert.body for marker in UNEXPECTED):
            problems.append(f"error box: {element.alert.body[:100]}")  # red notices (已逾期 …) are content
        elif kind == "html" and "/auth/session" in element.html.body:
            found = re.search(r'name="ticket" value="([^"]+)"', element.html.body)
            self.ticket = found.group(1) if found else ""
        elif kind in ("text_input", "button"):
            widget = getattr(element, kind)
            self.widgets[widget.label] = (widget.id, widget)
            if "-" in widget.id:
                self.widgets[widget.id.rsplit("-", 1)[-1]] = (widget.id, widget)  # by its key too

    def _state(self, name: str, **value):
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        widget_id = self.widgets[name][0]
        state = WidgetState(id=widget_id, **value)
        return state

    async def sign_in(self) -> float:
        """The login form, then what the page's form does: the ticket to /auth/session, whose Set-Cookie (the
        HttpOnly session) the browser sends on its next connection; then the app's first page on that one."""
        await self.run()  # the login page
        started = time.perf_counter()
        await self.run(widgets=[self._state("login_username", string_value=self.username),
                                self._state("login_password", string_value=PASSWORD),
                                self._state("登录", trigger_value=True)])
        if not self.ticket:
            raise PageError("no sign-in ticket")
        session = await asyncio.get_running_loop().run_in_executor(None, self._session_cookie)
        await self.ws.close()
        await self.connect(extra_cookie=session)
        await self.run()
        return time.perf_counter() - started

    def _session_cookie(self) -> str:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), _NoRedirect)
        request = urllib.request.Request(self.base + "/auth/session", data=f"ticket={self.ticket}".encode(),
                                         headers={"Origin": self.base, "Cookie": self.cookie,
                                                  "Content-Type": "application/x-www-form-urlencoded"})
        try:
            opener.open(request, timeout=self.timeout)
        except urllib.error.HTTPError as answer:  # the 303 back to the app, not followed
            jar = SimpleCookie()
            for header in answer.headers.get_all("Set-Cookie") or []:
                jar.load(header)
            if "zhenggai_session" in jar:
                return f"zhenggai_session={jar['zhenggai_session'].value}"
        raise PageError("the session route set no cookie")

    async def open(self, page: str) -> float:
        if page != "finding":
            return await self.run(page)
        if "lookup_serial" not in self.widgets:
            await self.run("finding")  # learn the look-up box (a browser knows it from the page it shows)
        return await self.run("finding", widgets=[self._state("lookup_serial", string_value=self.serial or "")])


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


async def simulate(user: SimulatedUser, until: float, think: tuple[float, float], times, errors, delay: float):
    await asyncio.sleep(delay)
    try:
        await user.connect()
        times["sign_in"].append(await user.sign_in())
    except Exception as error:  # noqa: BLE001 - every failure is counted and reported
        errors.append(f"{user.username} sign-in: {type(error).__name__}: {error}"[:300])
        return
    while time.monotonic() < until:
        for page in TOUR:
            if time.monotonic() >= until:
                break
            await asyncio.sleep(random.uniform(*think))
            try:
                times[page].append(await user.open(page))
            except Exception as error:  # noqa: BLE001 - counted as an error of the run, then the user reconnects
                errors.append(f"{user.username} {page}: {type(error).__name__}: {error}"[:300])
                try:  # reconnect as a browser would, and sign in again
                    await user.ws.close()
                    await user.connect()
                    await user.sign_in()
                except Exception:  # noqa: BLE001 - a failed reconnect ends this simulated user
                    return
    await user.ws.close()


def accounts_and_serials(users: int, names: list[str] | None) -> list[tuple[str, str | None]]:
    """The synthetic data set's accounts, each with a serial it may open (from DATABASE_URL)."""
    from sqlalchemy import select, true

    from db.engine import default_engine, read_session
    from db.models import Finding, User

    with read_session(default_engine()) as session:
        people = {u.username: u for u in session.execute(select(User).where(User.active == true())).scalars()}
        if names:
            chosen = [people[n] for n in names]
        else:
            leaders = [people[n] for n in ("leader", "inspector") if n in people]
            depts = [u for n, u in sorted(people.items()) if u.role == "department"]
            chosen = leaders + depts
        pairs = []
        for index in range(users):
            person = chosen[index % len(chosen)]
            query = select(Finding.serial)
            if person.role == "department":
                query = query.where(Finding.lead_unit_id == person.unit_id)
            serial = session.execute(query.order_by(Finding.id.desc()).offset(index).limit(1)).scalar()
            pairs.append((person.username, serial))
    return pairs


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (fields 14 and 15 of /proc/PID/stat, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def password_check_seconds() -> float:
    """CPU time of one password check at the app's cost (what a sign-in spends on the password)."""
    from dashboard import passwords

    stored = passwords.hash_password(PASSWORD)
    started = time.process_time()
    passwords.verify_password(PASSWORD, stored)
    return time.process_time() - started


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def watch_memory(pids: list[int], peaks: dict[int, float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        for pid in pids:
            peaks[pid] = max(peaks.get(pid, 0.0), resident_mb(pid))
        try:
            await asyncio.wait_for(stop.wait(), timeout=1.0)
        except TimeoutError:
            pass


def replica_costs(pids: list[int], cpu_before: dict[int, float], peaks: dict[int, float], report: dict,
                  sign_in_cpu: float) -> dict:
    used = {pid: cpu_seconds(pid) - cpu_before[pid] for pid in pids}
    total = sum(used.values())
    views = max(report["page_views"], 1)
    sign_ins = report["pages"].get("sign_in", {}).get("count", 0)
    return {"cpu_seconds": {str(pid): round(seconds, 1) for pid, seconds in used.items()},
            "cpu_seconds_per_page_view": round(total / views, 4),
            "cpu_seconds_per_page_view_without_sign_ins": round(max(total - sign_ins * sign_in_cpu, 0) / views, 4),
            "sign_ins": sign_ins, "sign_in_cpu_assumed": sign_in_cpu,
            "peak_resident_mb": {str(pid): round(mb) for pid, mb in peaks.items()}}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def main_async(args) -> dict:
    pairs = accounts_and_serials(args.users, args.accounts.split(",") if args.accounts else None)
    times: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    pids = args.replica_pids or []
    cpu_before = {pid: cpu_seconds(pid) for pid in pids}
    peaks: dict[int, float] = {}
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_memory(pids, peaks, stop))
    started = time.monotonic()
    until = started + args.ramp + args.duration
    users = [SimulatedUser(args.url.rstrip("/"), name, serial, args.page_timeout) for name, serial in pairs]
    await asyncio.gather(*(simulate(user, until, (args.think_min, args.think_max), times, errors,
                                    delay=args.ramp * index / max(1, len(users)))
                           for index, user in enumerate(users)))
    elapsed = time.monotonic() - started
    stop.set()
    await watcher
    report = {"users": args.users, "duration_seconds": args.duration, "ramp_seconds": args.ramp,
              "think_seconds": [args.think_min, args.think_max], "elapsed_seconds": round(elapsed, 1),
              "page_views": sum(len(v) for k, v in times.items() if k != "sign_in"),
              "errors": len(errors), "error_samples": errors[:10], "pages": {}}
    report["page_views_per_second"] = round(report["page_views"] / max(elapsed - args.ramp, 1), 2)
    for name in ("sign_in", *TOUR):
        values = times.get(name, [])
        if values:
            report["pages"][name] = {"count": len(values), "median_ms": round(statistics.median(values) * 1000),
                                     "p95_ms": round(percentile(values, 0.95) * 1000),
                                     "max_ms": round(max(values) * 1000)}
    every = [v for k, vs in times.items() if k != "sign_in" for v in vs]
    if every:
        report["all_pages"] = {"median_ms": round(statistics.median(every) * 1000),
                               "p95_ms": round(percentile(every, 0.95) * 1000)}
    if pids:
        report["replicas"] = replica_costs(pids, cpu_before, peaks, report, args.sign_in_cpu)
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the nginx address, e.g. https://127.0.0.1:8650 (loopback only)")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=float, default=120, help="seconds of touring after the ramp")
    parser.add_argument("--ramp", type=float, default=20, help="seconds over which the users arrive")
    parser.add_argument("--think-min", type=float, default=1.0)
    parser.add_argument("--think-max", type=float, default=3.0)
    parser.add_argument("--page-timeout", type=float, default=60)
    parser.add_argument("--accounts", help="comma-separated usernames (default: the synthetic accounts)")
    parser.add_argument("--replica-pids", type=int, nargs="+", metavar="PID",
                        help="the replicas' server processes: report their CPU per page view and peak memory")
    parser.add_argument("--sign-in-cpu", type=float,
                        help="CPU-seconds one sign-in's password check costs (default: measured here once), "
                             "to report the page views' share alone")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    if urlparse(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
        parser.error("loopback only: point it at 127.0.0.1")
    random.seed(17)
    if args.replica_pids and args.sign_in_cpu is None:
        args.sign_in_cpu = round(password_check_seconds(), 3)
    report = asyncio.run(main_async(args))
    text = json.dumps(report, ensure_ascii=False, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    os.environ.setdefault("DASHBOARD_MODE", "demo")
    raise SystemExit(main())
