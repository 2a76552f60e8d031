"""One line for each failure a command can end with: what went wrong and what to do about it.

Database and settings errors otherwise print as the driver or pydantic wrote them: the SQL, a
link to a help page, several lines, and nothing about the LAUNCHCAST_ variable to change.
"""

from __future__ import annotations

import os
import re
import traceback
from pathlib import Path
from typing import Any

import click
import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

URL_VARIABLE = "LAUNCHCAST_DATABASE_URL"
URL_FORMS = "sqlite:///PATH or postgresql+psycopg://USER@HOST:5432/DATABASE"
# What SQLite and PostgreSQL say when a table or column the code expects is missing: the
# database was never migrated, or was migrated by an older launchcast.
_SCHEMA_MISSING = re.compile(
    r"no such table|no such column|relation \S+ does not exist|column \S+ does not exist",
    re.IGNORECASE,
)


def reason_for(exc: BaseException) -> str:
    """The one-line reason `launchcast` prints for `exc`."""
    # Typer >= 0.29 raises its own copy of Click's exceptions (not click.ClickException):
    # format_message() is what names the option ("Invalid value for '--horizon': ...").
    if isinstance(exc, click.ClickException | typer.TyperException):
        return exc.format_message()
    if isinstance(exc, ValidationError) and exc.title == "Settings":
        return _settings_reason(exc)
    if isinstance(exc, SettingsError):
        return _unparsable_setting(str(exc))
    if isinstance(exc, DBAPIError):
        return _database_reason(exc)
    if isinstance(exc, (ArgumentError, NoSuchModuleError)) or _raised_by_a_dialect(exc):
        return (
            f"{URL_VARIABLE}={_shown_url()} is not a database URL launchcast can use ({exc}); "
            f"use {URL_FORMS}"
        )
    return str(exc) or type(exc).__name__


# Settings whose values a message never shows: key digests, or a key pasted there by mistake.
SECRET_SETTINGS = {"api_keys"}
KEYS_FORM = 'a JSON map of digest to role, {"sha256:<64 hex chars>": "read"}'


def _settings_reason(exc: ValidationError) -> str:
    """`LAUNCHCAST_FREQUENCY='X': Input should be 'D', 'W' or 'M'`, one clause per setting."""
    clauses = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        name = "LAUNCHCAST_" + field.upper() if field else "a setting"
        message = error["msg"].removeprefix("Value error, ")
        if field in SECRET_SETTINGS:
            clauses.append(f"{name} is not {KEYS_FORM} ({_without_inputs(error)})")
        else:
            clauses.append(f"{name}={error.get('input')!r}: {message}")
    return "; ".join(dict.fromkeys(clauses))  # one clause for several keys' same error


def _without_inputs(error: Any) -> str:
    """What is wrong with a secret setting, naming none of its values."""
    if error["type"] == "enum":
        return f"a role must be {error['ctx']['expected']}"
    if len(error["loc"]) == 1 and error["type"] != "value_error":
        return str(error["msg"]).lower()  # not a map at all: "input should be a valid dictionary"
    return "create a key with `launchcast keys create --role read`"


def _unparsable_setting(message: str) -> str:
    """pydantic-settings' 'error parsing value for field "api_keys" from source ...'."""
    found = re.search(r'field "(\w+)"', message)
    if found is None:
        return message
    name = "LAUNCHCAST_" + found.group(1).upper()
    if found.group(1) in SECRET_SETTINGS:
        blank = not os.environ.get(name, "x").strip()
        unset = "; unset it, or set it to {}, for no keys (loopback only)" if blank else ""
        return f"{name} could not be read: it must be {KEYS_FORM}{unset}"
    return f'{name} could not be read: it must be JSON (a map is written {{"key": "value"}})'


def _database_reason(exc: DBAPIError) -> str:
    missing = _missing_database_file()
    if missing is not None:  # the engine does not create one (store.session.get_engine)
        return _no_database(missing)
    detail = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
    if _SCHEMA_MISSING.search(detail):
        return (
            f"the database at {_shown_url()} has no launchcast schema or an older one "
            f"({detail}): run `launchcast db upgrade` first"
        )
    return f"the database at {_shown_url()} failed: {detail}"


def _no_database(path: Path) -> str:
    """Why there is no SQLite file at `path`, and what creates one."""
    if not path.parent.is_dir():
        return f"no database at {path}: there is no directory {path.parent} (check {URL_VARIABLE})"
    if not os.access(path.parent, os.W_OK | os.X_OK):
        return f"no database at {path}, and {path.parent} is not writable to create one"
    return (
        f"no database at {path}: run `launchcast db upgrade` first (or `launchcast demo`), "
        f"or set {URL_VARIABLE} to the database's path"
    )


def _raised_by_a_dialect(exc: BaseException) -> bool:
    """A driver module missing for the URL's scheme (mysql:// needs MySQLdb): the import is
    made by SQLAlchemy's dialect, which the traceback passes through."""
    if not isinstance(exc, ModuleNotFoundError):
        return False
    frames = traceback.extract_tb(exc.__traceback__)
    return any("sqlalchemy/dialects" in frame.filename.replace("\\", "/") for frame in frames)


def _missing_database_file() -> Path | None:
    """The SQLite file the configured URL names, when there is no such file."""
    from store.session import missing_sqlite_file

    url = _configured_url()
    return missing_sqlite_file(url) if url is not None else None


def _shown_url() -> str:
    """The configured database URL with its password hidden (a message must not print it)."""
    url = _configured_url()
    return "(unreadable settings)" if url is None else redacted(url)


def _configured_url() -> str | None:
    """LAUNCHCAST_DATABASE_URL as the command read it; None when the settings are what failed."""
    url = os.environ.get(URL_VARIABLE)
    if url is None:
        try:
            from store.settings import get_settings

            url = get_settings().database_url
        except Exception:  # the settings themselves are what failed: say so plainly
            return None
    return url


def redacted(url: str) -> str:
    """`url` with its password hidden, for anything printed or logged."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: it is shown as given, it holds no parsable password
        return repr(url)
