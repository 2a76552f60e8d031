"""Dependencies shared by the routers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from store.session import get_sessionmaker
from store.settings import Settings


async def get_app_settings(request: Request) -> Settings:
    """The settings the app was built with (tests build apps with settings of their own).

    `async` because it only reads memory: a sync dependency would cost a thread-pool round
    trip on every request.
    """
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def get_session(settings: SettingsDep) -> Iterator[Session]:
    """One session per request; routes commit at the edge of their use case."""
    with get_sessionmaker(settings.database_url)() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
