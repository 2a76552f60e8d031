"""Engines and sessions. One engine per URL, one session per use case."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

POSTGRES_CONNECT_TIMEOUT_SECONDS = 5
SQLITE_BUSY_TIMEOUT_SECONDS = 30.0


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """A pooled engine for `url`, created once per process.

    It never creates a SQLite file: a mistyped path fails to connect ("unable to open database
    file") instead of leaving an empty database behind. The migrations (`store.migrations`,
    `launchcast db upgrade`) are what create one.
    """
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        # The service answers from a thread pool; SQLite connections may cross threads. A
        # writer waits up to `timeout` seconds for another's write lock (SQLITE_BUSY_TIMEOUT_
        # SECONDS, unless the URL says `?timeout=`: connect_args would override the URL's).
        kwargs["connect_args"] = {"check_same_thread": False}
        if "timeout" not in make_url(url).query:
            kwargs["connect_args"]["timeout"] = SQLITE_BUSY_TIMEOUT_SECONDS
    elif url.startswith("postgresql") and "connect_timeout" not in make_url(url).query:
        # A host that drops packets (not one that refuses) would otherwise hold a request,
        # a /metrics scrape or a scheduler tick for the kernel's TCP timeout (minutes).
        kwargs["connect_args"] = {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS}
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):
        event.listen(engine, "do_connect", _open_existing_file_only)
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _open_existing_file_only(
    _dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]
) -> None:
    """Open a SQLite file read-write without creating it (SQLite's `mode=rw`); an in-memory
    database, or a URL that is already a SQLite URI (`?uri=true`), is opened as given."""
    if cparams.get("uri") or not cargs or cargs[0] in ("", ":memory:"):
        return
    cargs[0] = Path(cargs[0]).absolute().as_uri() + "?mode=rw"
    cparams["uri"] = True


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Foreign keys are off by default in SQLite; WAL lets readers run beside a writer.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def missing_sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names when there is no such file (what `get_engine` will not
    create), else None: another database, an in-memory one, or a file that exists."""
    try:
        parsed = make_url(url)
    except Exception:  # not a URL: connecting says what is wrong with it
        return None
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or database in (None, "", ":memory:"):
        return None
    if parsed.query.get("uri") or database.startswith("file:"):
        return None
    path = Path(database).absolute()
    return None if path.exists() else path


@lru_cache(maxsize=8)
def get_sessionmaker(url: str) -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(url), expire_on_commit=False)


def session_scope(url: str) -> Iterator[Session]:
    """Yield a session; the caller commits at the edge of its use case."""
    with get_sessionmaker(url)() as session:
        yield session
