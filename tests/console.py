"""`launchcast ARGS` run in-process as the console script runs it, its one-line error path
included (CliRunner calls the Typer app, which skips `cli.main.main`)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from cli.main import main
from store.settings import get_settings


@dataclass
class Ran:
    code: int
    out: str
    err: str


def run_console_script(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str | Path
) -> Ran:
    monkeypatch.setattr(sys, "argv", ["launchcast", *map(str, args)])
    get_settings.cache_clear()  # settings read afresh from the environment the test set
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return Ran(code, captured.out, captured.err)
