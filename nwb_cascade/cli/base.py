"""What every command shares: the group, ``-v`` anywhere, the one place where errors become one line."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import click

from ..common.errors import Interrupted, NWBCascadeError

#: Loggers of other libraries that speak at INFO (and print tracebacks while retrying): quiet below -vv.
CHATTY = ("distributed", "dask", "dandi", "hdmf", "pynwb", "urllib3", "fsspec", "numba", "matplotlib", "asyncio")


def version() -> str:
    from ..common.version import __version__

    return __version__


class UserError(click.ClickException):
    """An error of the package's (NWBCascadeError) on the command line: ``error: <message>``, exit status 2,
    or 128 + the signal's number for an interrupted run."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def set_verbosity(ctx: click.Context, _param: click.Parameter, count: int) -> None:
    """``-v``: this package's INFO; ``-vv``: DEBUG, and the other libraries' INFO (their retries, their
    tracebacks).  Given before or after the command, the larger count wins; the levels are as they were
    again when the command returns (:class:`Group`)."""
    root = ctx.find_root()
    level = max(count, root.meta.get("verbosity", 0))
    root.meta["verbosity"] = level
    saved = root.meta.setdefault("log_levels", {})
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    for name, wanted in [("nwb_cascade", [logging.WARNING, logging.INFO, logging.DEBUG][min(level, 2)]),
                         *((name, logging.INFO if level >= 2 else logging.ERROR) for name in CHATTY)]:
        logger = logging.getLogger(name)
        saved.setdefault(name, logger.level)
        logger.setLevel(wanted)
    # distributed sets its loggers' levels from dask's config when it is first imported (after this), in this
    # process and in the workers it starts: tell it through the environment, which both read
    os.environ["DASK_LOGGING__DISTRIBUTED"] = "info" if level >= 2 else "error"


def verbose_option() -> click.Option:
    return click.Option(["-v", "--verbose"], count=True, expose_value=False, callback=set_verbosity,
                        help="More log output: -v this package's steps, -vv also the libraries'.")


class Command(click.Command):
    """A command that takes ``-v`` too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.append(verbose_option())


class Group(click.Group):
    """The command group: its commands take ``-v``; the package's errors become one-line messages."""

    command_class = Command

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.append(verbose_option())

    group_class = type  # subgroups are Groups too

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return self._invoke(ctx)
        finally:
            if ctx.parent is None:  # the command is over: the loggers' levels as they were
                for name, level in ctx.meta.pop("log_levels", {}).items():
                    logging.getLogger(name).setLevel(level)

    def _invoke(self, ctx: click.Context) -> Any:
        try:
            return click.Group.invoke(self, ctx)
        except Interrupted as error:
            failure = UserError(str(error))
            failure.exit_code = 128 + (error.signal_number or 2)
            raise failure from error
        except (NWBCascadeError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError,
                PermissionError) as error:
            raise UserError(str(error)) from error


def output_option(what: str, *, folder: bool = False, default: str | None = None) -> Callable:
    """``-o/--output``: where a command writes ``what``."""
    return click.option("--output", "-o", type=click.Path(file_okay=not folder, dir_okay=folder), default=None,
                        show_default=False, help=f"{what}{f' (default: {default})' if default else ''}.")


def overwrite_option(what: str) -> Callable:
    return click.option("--overwrite", is_flag=True, help=f"Replace {what}.")


def parse_list(text: str | None, kind: type, what: str, example: str) -> list | None:
    """A comma-separated option as a list of ``kind``; a value that is not one is a usage error."""
    if text is None:
        return None
    try:
        return [kind(value) for value in text.split(",") if value.strip()]
    except ValueError:
        raise click.BadParameter(f"{text!r} is not {what} (e.g. {example})") from None
