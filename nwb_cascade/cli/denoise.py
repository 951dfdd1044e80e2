"""Denoising: ``denoise``."""

from __future__ import annotations

import click

from ..options import DenoiseOptions
from .base import Command, output_option, overwrite_option
from .options import options_of


@click.command("denoise", cls=Command)
@click.argument("file")
@options_of(DenoiseOptions, progress=True)
@output_option("New NWB file for the denoised movie", default="FILE with .denoised.nwb; for a remote FILE, named "
                                                             "after it in the working directory")
@click.option("--in-place", is_flag=True, help="Add the denoised movie to FILE itself (only adds; a local file).")
@overwrite_option("an existing denoised series / output file")
def denoise_command(file: str, options: DenoiseOptions, output: str | None, in_place: bool, overwrite: bool) -> None:
    """Denoise a TwoPhotonSeries of FILE (DeepCAD-RT, self-supervised: trained on FILE's own frames unless
    --denoiser names a trained one) and write the denoised movie as NWB."""
    from ..denoising import denoise

    click.echo(denoise(file, output, in_place=in_place, overwrite=overwrite, options=options).describe())


def register(group: click.Group) -> None:
    group.add_command(denoise_command)
