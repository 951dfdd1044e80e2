"""Command-line options made from the fields of an options dataclass (:mod:`nwb_cascade.options`): each
option's flag, default, type, choices and help come from its one declaration there."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import click

from ..options import OptionError


def _click_option(item: dataclasses.Field) -> Callable:
    meta = item.metadata
    name = item.name.replace("_", "-")
    if isinstance(item.default, bool):
        if item.default:
            return click.option(f"--no-{name}", item.name, flag_value=False, default=True,
                                show_default=False, help=meta.get("off") or f"Not: {meta['help']}")
        return click.option(f"--{name}", item.name, is_flag=True, default=False, show_default=False, help=meta["help"])
    kind = meta.get("kind") or (type(item.default) if item.default is not None else str)
    choices = meta.get("choices")
    default = item.default if item.default is None or not choices else str(item.default)
    return click.option(f"--{name}", item.name, type=click.Choice(choices) if choices else kind,
                        default=default, metavar=meta.get("metavar"), show_default=item.default is not None,
                        help=meta["help"])


def options_of(kind: type, **fixed: Any) -> Callable:
    """A decorator: one command-line option per field of ``kind`` (those not marked ``cli=False``); the command
    receives one ``kind`` instance as ``options`` (``fixed`` values set fields without an option)."""
    fields = [item for item in dataclasses.fields(kind) if item.metadata.get("cli", True)]

    def decorate(command: Callable) -> Callable:
        @functools.wraps(command)
        def with_options(**values: Any) -> Any:
            chosen = {item.name: values.pop(item.name) for item in fields}
            try:
                options = kind(**chosen, **fixed)
            except OptionError as error:
                raise click.UsageError(str(error)) from None
            return command(options=options, **values)

        for item in reversed(fields):
            with_options = _click_option(item)(with_options)
        return with_options

    return decorate
