"""The ``hwnas`` command line (see :mod:`hwnas.cli.main`)."""

from hwnas.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
