"""Plumbing shared by every command module: the per-invocation context, one-line errors and exit codes."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from trialfinder.config import Config, ConfigError, load_config
from trialfinder.outfile import write_text_atomic
from trialfinder.wording import printable

if TYPE_CHECKING:  # SQLAlchemy is imported when a command first needs the database, not for --help
    from sqlalchemy import Engine

EXIT_FAILED, EXIT_USAGE, EXIT_BUSY = 1, 2, 3
log = logging.getLogger("trialfinder")


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

            url = self.config.database.url
            try:
                self._engine = open_database(url)
            except Exception as exc:  # a bad URL, a missing driver, a file that is not a database: configuration
                code = EXIT_FAILED if any(word in str(exc) for word in ("locked", "malformed")) else EXIT_USAGE
                fail(f"cannot open the database {_hide_password(url)}: {_first_line(exc)}", code)
        return self._engine

    def close(self) -> None:
        """Close the engine's database connections, if it was opened (the command is done)."""
        if self._engine is not None:
            from trialfinder.db import dispose

            dispose(self._engine)
            self._engine = None


class GuardedGroup(click.Group):
    """A click group whose commands never show a traceback: an unexpected error is one line and exit 1
    (the traceback goes to the debug log, shown with -v)."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:
            log.debug("the command failed", exc_info=True)
            fail(f"{_first_line(exc)} (run with -v for details)", EXIT_FAILED)


def _first_line(exc: BaseException) -> str:
    """The driver's message of a database error, else the exception's, on one line."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _hide_password(url: str) -> str:
    try:
        from sqlalchemy import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not even a URL: it is shown as given, it has no password to hide
        return url


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print `trialfinder: error: <message>` on stderr (one line) and exit with `code`."""
    click.echo(f"trialfinder: error: {' '.join(printable(message).split())}", err=True)
    sys.exit(code)


def print_or_write(text: str, output: Path | None) -> bool:
    """Print `text`, or write it whole to `output` (a one-line error and exit 1 when that fails); True when it
    was written to the file."""
    if output is None:
        click.echo(text, nl=False)
        return False
    try:
        write_text_atomic(output, text)
    except OSError as exc:
        fail(f"cannot write {output}: {exc}", EXIT_FAILED)
    return True
