"""The ``hwnas`` command line (see :mod:`hwnas.cli.parser`)."""

from hwnas.cli.parser import build_parser, main

__all__ = ["build_parser", "main"]
