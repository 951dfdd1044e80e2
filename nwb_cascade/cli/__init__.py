"""The ``nwb-cascade`` command line: thin commands over the Python API, one module per family.

- :mod:`.spikes`: ``example``, ``inspect``, ``infer``, ``allen``, ``batch``, ``summarize``, ``plot``
- :mod:`.denoise`: ``denoise``
- :mod:`.models`: ``models``, ``ground-truth``, ``train``, ``evaluate``
- :mod:`.archive`: ``dandi``, ``cache``

One vocabulary: ``-o/--output`` for what a command writes, ``--overwrite`` to replace it, ``-v`` anywhere.
The options of a run are generated from :mod:`nwb_cascade.options` (declared once, with their help).
Nothing heavy (torch, pynwb, dask) is imported before a command runs, so ``--help`` answers at once.
"""

from __future__ import annotations

import sys

import click

from .base import Group, UserError, version

main: Group


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(version(), prog_name="nwb-cascade")
def main() -> None:
    """Cascade spike inference and DeepCAD-RT denoising for NWB files."""


from . import archive, denoise, models, spikes  # noqa: E402  (the commands register themselves on main)

for family in (spikes, denoise, models, archive):
    family.register(main)


def run() -> None:
    """Entry point: the package's errors are one-line messages (exit status 2, or 128 + signal when interrupted)."""
    try:
        main(standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)


__all__ = ["UserError", "main", "run"]
