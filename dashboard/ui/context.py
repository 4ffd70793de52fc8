"""Per-run context for pages: language, engine, the signed-in actor, and running a service safely."""
from __future__ import annotations

import dataclasses
import functools
import inspect
import threading
import time
from collections import OrderedDict
from enum import StrEnum
from typing import Any, Callable

import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.exc import DataError

from dashboard import clock
from dashboard.errors import ConflictError, DomainError
from dashboard.i18n import DEFAULT_LANGUAGE, join, label, t
from dashboard.lifecycle import Actor
from dashboard.ui.safe import plain_params
from db.engine import default_engine, migrate, read_session
from dashboard.services.unit_of_work import run_in_unit_of_work


_this_run = threading.local()  # each script run has its own thread: what begin_run read for it


def lang() -> str:
    """The reader's language: read from the session once per script run (a page calls ``tr`` hundreds of times,
    and each read of the session state costs more than the translation); outside a run, from the session."""
    known = getattr(_this_run, "lang", None)
    return known or st.session_state.get("lang", DEFAULT_LANGUAGE)


def tr(key: str, **params: Any) -> str:
    return t(key, lang(), **params)


def lbl(member: StrEnum | str | None, enum: type[StrEnum] | None = None) -> str:
    if member is None or member == "":
        return ""
    if enum is not None:
        member = enum(member)
    return label(member, lang())  # type: ignore[arg-type]  # a code without ``enum`` is one of the catalogue's enums' values


def joined(items) -> str:
    """A list of names as the reader writes one (、 in Chinese, commas in English)."""
    return join(items, lang())


def labels(enum: type[StrEnum]) -> dict[str, str]:
    """Every code of a vocabulary with its label, for tables of many rows (a label read per cell
    costs a session-state lookup each: 800 villages took 100 ms)."""
    language = lang()
    return {member.value: label(member, language) for member in enum}


@st.cache_resource(show_spinner=False)
def engine() -> Engine:
    """One engine per server process, brought to the newest schema once."""
    engine = default_engine()
    migrate(engine)
    return engine


_fresh_as_of: list[tuple[str, str]] = []  # the (data version, day) the roll-ups were last found fresh at, per process


def fresh_rollups() -> None:
    """Before a page reads the whole-ledger figures: build today's roll-ups if they are not there yet. Skipped
    while the data version and the day are those of the last check: roll-ups go stale only by a write (which
    bumps the version: a bulk load, a changed setting) or by a new day."""
    from dashboard.services import rollups

    seen = (data_version(), clock.today().isoformat())
    if seen in _fresh_as_of:
        return
    rollups.refresh_if_stale(engine())
    _fresh_as_of[:] = [seen]


RUN_VERSION = "_data_version_of_run"


def begin_run() -> str:
    """The shell's first step (``dashboard/app.py``): read the data version once for the whole run."""
    _this_run.lang = st.session_state.get("lang") or DEFAULT_LANGUAGE  # the switch sets it before the rerun
    st.session_state.pop(RUN_VERSION, None)
    st.session_state[RUN_VERSION] = version = data_version()
    return version


def data_version() -> str:
    """The data version (``services/data_version.py``), which tells whether anything a page shows has changed
    since a cached view was built, on this replica or another: read once per run (``begin_run``) and again after
    this run's own write (``run_service``); a page run on its own (tests, the benchmark) reads it every time."""
    from dashboard.services import data_version as versions

    known = st.session_state.get(RUN_VERSION)
    return known if known is not None else versions.current(engine())


def view_key(person: Actor) -> tuple[str, str, str, str, int | None]:
    """What a cached view of the data depends on besides its own arguments: the data version (read first, so
    the view is at least as new as the key it is filed under), the day (lights and overdue days move with it),
    the language, and whose view it is: the role and unit, which decide what may be seen. Never the user's id:
    two leaders share a view; a department never shares one with another unit."""
    return data_version(), clock.today().isoformat(), lang(), str(person.role), person.unit_id


VIEW_TTL_SECONDS = 900  # a safety net only: a write shows at once through the data version


def _frozen(value: Any) -> Any:
    """An argument as part of a dictionary key: lists, sets, dicts and dataclasses (a ``LedgerFilter``) by value."""
    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(item) for item in value)
    if isinstance(value, (set, frozenset)):
        return frozenset(_frozen(item) for item in value)
    if isinstance(value, dict):
        return tuple(sorted((key, _frozen(item)) for key, item in value.items()))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value).__qualname__,) + tuple(_frozen(getattr(value, f.name)) for f in dataclasses.fields(value))
    hash(value)  # anything else must be hashable as it is
    return value


class _ViewCache:
    """Least recently used first out, at most ``max_entries``, each entry kept ``VIEW_TTL_SECONDS`` at most; one
    per cached function and process, shared by every session and thread."""

    def __init__(self, fn: Callable[..., Any], max_entries: int) -> None:
        self.fn = fn
        self.max_entries = max_entries
        self.signature = inspect.signature(fn)  # read once: binding the arguments is the whole cost of a hit
        self.entries: OrderedDict[Any, tuple[float, Any]] = OrderedDict()
        self.lock = threading.Lock()
        self.building: dict[Any, threading.Lock] = {}  # a lock per key being built
        functools.update_wrapper(self, fn)

    def key(self, args: tuple, kwargs: dict) -> tuple:
        bound = self.signature.bind(*args, **kwargs).arguments
        return tuple((name, _frozen(value)) for name, value in bound.items() if not name.startswith("_"))

    def _cached(self, key: Any) -> tuple[bool, Any]:
        with self.lock:
            found = self.entries.get(key)
            if found is not None and time.monotonic() - found[0] < VIEW_TTL_SECONDS:
                self.entries.move_to_end(key)
                return True, found[1]
            return False, None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        key = self.key(args, kwargs)
        hit, value = self._cached(key)
        if hit:
            return value
        # One build per key at a time: fifty people opening the meeting's overview at once wait for the first
        # build instead of each making their own (measured without this: +85 MB per replica, +11 % CPU a view)
        with self.lock:
            building = self.building.setdefault(key, threading.Lock())
        with building:
            hit, value = self._cached(key)
            if not hit:
                value = self.fn(*args, **kwargs)
                with self.lock:
                    self.entries[key] = (time.monotonic(), value)
                    self.entries.move_to_end(key)
                    while len(self.entries) > self.max_entries:
                        self.entries.popitem(last=False)
        with self.lock:
            if not building.locked():
                self.building.pop(key, None)
        return value

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()

    def views(self) -> list[Any]:
        with self.lock:
            return [value for _at, value in self.entries.values()]


def cached_view(max_entries: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A page's read models, frames and chart specs, built once per ``view_key`` (first argument) and what else
    the function takes; bounded per replica (``max_entries``, least recently used first out). Arguments named
    with a leading ``_`` are not part of the key: pass the actor that way, its role and unit are in the key.

    The one object is shared by every session that asks (no copy per view: a copy per view, as ``st.cache_data``
    unpickles, cost about 40 % of a warm page's CPU in ``scripts/benchmark.py``), so a view is read-only once
    built: a page draws it and never changes it in place (Arrow tables cannot be; ``tests/test_data_version.py``
    checks that drawing every cached page leaves its views as they were). A small dictionary of our own, not
    ``st.cache_resource``: Streamlit hashes every argument and inspects the function's signature on each call,
    which was a third of a warm finding page's CPU."""
    def cached(fn: Callable[..., Any]) -> Callable[..., Any]:
        name = f"{fn.__module__}.{fn.__qualname__}"
        view = _VIEWS.get(name)
        if view is None:  # a page's module runs again on every rerun: one cache per function, kept
            view = _VIEWS[name] = _ViewCache(fn, max_entries)
        return view
    return cached


_VIEWS: dict[str, _ViewCache] = {}


def forget_views() -> None:
    """Empty every cached view of this process (the engine and other resources stay): the benchmark's cold run,
    and each test's start."""
    for view in _VIEWS.values():
        view.clear()


def cached_views() -> list[Any]:
    """Every cached view of this process (tests check that drawing a page never changes one)."""
    return [value for view in list(_VIEWS.values()) for value in view.views()]


def actor() -> Actor:
    return st.session_state["actor"]


def reading():
    return read_session(engine())


def read_later(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[[], Any]:
    """``fn(session, *args, **kwargs)`` as a callable run only when needed (a download clicked, a preview
    not cached yet), in its own read session on this run's engine."""
    bound = engine()

    def run() -> Any:
        with read_session(bound) as session:
            return fn(session, *args, **kwargs)
    return run



def run_service(fn: Callable[..., Any], *args: Any, conflict_key: str | None = None, **kwargs: Any) -> Any:
    """Call a service in its own unit of work; show refusals in the user's language.

    Returns the service's result, or None when it was refused (the page keeps what was typed).
    A conflict keeps the other person's version in ``st.session_state[conflict_key]``.
    """
    st.session_state.pop(RUN_VERSION, None)  # whatever happens, the rest of this run reads the version afresh
    try:
        return run_in_unit_of_work(engine(), fn, *args, **kwargs)
    except ConflictError as conflict:
        st.error(shown(conflict))
        if conflict_key:
            st.session_state[conflict_key] = conflict.current
        return None
    except DomainError as error:
        st.error(shown(error))
        return None
    except DataError as error:  # e.g. a NUL byte that reached PostgreSQL by a path the services do not clean
        st.error(tr("error.bad_characters" if "0x00" in str(error) or "NUL" in str(error) else "ui.bad_input"))
        return None
    except ValueError:
        st.error(tr("ui.bad_input"))
        return None


def shown(error: DomainError) -> str:
    """A refusal in the user's language, the user's own values in it shown as text."""
    return t(error.key, lang(), **plain_params(error.params))


def flash(message_key: str, **params: Any) -> None:
    """A success message that survives the rerun that follows an action."""
    st.session_state["flash"] = tr(message_key, **plain_params(params))


def show_flash() -> None:
    """The result of the last action: a toast wherever the user has scrolled to, and a line in place
    (call this where the user acted: at the top of a page, or above the forms of the detail page)."""
    message = st.session_state.pop("flash", None)
    if message:
        st.toast(message, icon=":material/check_circle:")
        st.success(message)
