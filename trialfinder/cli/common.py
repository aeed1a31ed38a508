"""Plumbing shared by every command module: the per-invocation context, one-line errors and exit codes."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NoReturn

import click

from trialfinder.config import Config, ConfigError, load_config

if TYPE_CHECKING:  # SQLAlchemy is imported when a command first needs the database, not for --help
    from sqlalchemy import Engine

EXIT_FAILED, EXIT_USAGE, EXIT_BUSY = 1, 2, 3


@dataclass
class AppContext:
    """What every command gets: the config path given, and the loaded config and engine on first use."""

    config_path: str | None
    _config: Config | None = None
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def config(self) -> Config:
        """The loaded config; a bad one ends the command with a one-line error and exit 2."""
        if self._config is None:
            try:
                self._config = load_config(self.config_path)
            except ConfigError as exc:
                fail(str(exc), EXIT_USAGE)
        return self._config

    @property
    def engine(self) -> Engine:
        """The database engine, schema upgraded to head."""
        if self._engine is None:
            from trialfinder.db import open_database

            try:
                self._engine = open_database(self.config.database.url)
            except Exception as exc:  # a bad URL or unreadable file: say so in one line
                fail(f"cannot open the database {self.config.database.url}: {exc}", EXIT_FAILED)
        return self._engine


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print `trialfinder: error: <message>` on stderr (one line) and exit with `code`."""
    click.echo(f"trialfinder: error: {' '.join(message.split())}", err=True)
    sys.exit(code)
