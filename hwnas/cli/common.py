"""What the subcommands share: the user-error type, network and data options."""

from __future__ import annotations

import argparse
import inspect
from typing import Any, Callable, Dict


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


# ---------------------------------------------------------------------------------------------
# Shared options


def add_command(sub: Any, name: str, func: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
    """A subcommand ``name`` that runs ``func(args)``; its docstring is the help: the first line
    in the list of commands, the whole in ``hwnas NAME --help``."""
    doc = inspect.getdoc(func) or name
    summary = doc.splitlines()[0].rstrip(".")
    parser = sub.add_parser(name, help=summary[0].lower() + summary[1:], description=doc,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(func=func)
    return parser


def add_space_option(parser: argparse.ArgumentParser, required: bool = False, help: str = "search space") -> None:
    from hwnas.spaces import SPACES

    parser.add_argument("--space", choices=list(SPACES), required=required, help=help)


def add_network_options(parser: argparse.ArgumentParser, space_required: bool = False) -> None:
    """``--space`` and every space's network options, generated from the spaces' settings."""
    from hwnas.spaces import network_flags

    group = parser.add_argument_group("network (defaults: the space's published final network)")
    add_space_option(group, space_required, "search space" + ("" if space_required else " (default: the genotype's)"))
    for flag in network_flags():
        name = "--" + flag.name.replace("_", "-")
        if flag.kind is bool:
            group.add_argument(name, action="store_true", help=flag.help)
        else:
            group.add_argument(name, type=flag.kind, choices=flag.choices, help=flag.help)


def add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="digits", help="digits (offline, default), cifar10, cifar100, mnist, "
                        "fashion_mnist, svhn, imagefolder")
    parser.add_argument("--data-dir", help="dataset folder (cifar10 etc. also read train/<class>/*.jpg folders)")
    parser.add_argument("--download", action="store_true", help="let torchvision download the dataset")
    parser.add_argument("--limit", type=int, help="use at most this many images per split (quick runs)")
    parser.add_argument("--image-size", type=int, default=32, help="imagefolder: resize images to this side (32)")


def network_options(args: argparse.Namespace) -> Dict[str, Any]:
    """The network options given on the command line (``None`` where left out)."""
    from hwnas.spaces import network_flags

    return {flag.name: getattr(args, flag.name, None) for flag in network_flags()}


def space_and_genotype(args: argparse.Namespace):
    from hwnas.core.genotype import PUBLISHED_NETWORK, load_genotype
    from hwnas.spaces import make_space

    genotype = load_genotype(args.genotype)
    if args.space and args.space != genotype.space:
        raise CLIError(f"--space {args.space} does not match the genotype, which is of space {genotype.space}")
    options = network_options(args)
    for key, value in PUBLISHED_NETWORK.get(args.genotype, {}).items():  # unless given on the command line
        if options.get(key) is None:
            options[key] = value
    return make_space(genotype.space, **options), genotype


def add_run_options(parser: argparse.ArgumentParser, kind: str, checkpoint: str, trains: str) -> None:
    """Seed, device, and the run folder ``runs/NAME`` with resuming, of a long run (search, train)."""
    parser.add_argument("--seed", type=int, default=0, help="seed (0)")
    parser.add_argument("--torch-device", default="cpu", help=f"where {trains} trains: cpu or cuda (cpu)")
    parser.add_argument("--name", default=kind, help=f"run name: runs/NAME ({kind})")
    parser.add_argument("--runs-dir", default="runs", help="folder of runs (runs)")
    parser.add_argument("--resume", action="store_true", help=f"continue runs/NAME from {checkpoint}")
    parser.add_argument("--overwrite", action="store_true", help="start runs/NAME afresh")


def add_tables_option(parser: argparse.ArgumentParser, writes: bool = False) -> None:
    """``--tables-dir``: where latency tables are read (and, for ``writes``, written)."""
    if writes:
        text = "where the table is written (default: $HWNAS_TABLES, else ~/.local/share/hwnas/latency_tables)"
    else:
        text = ("folder of latency tables (default: the tables profiled on this machine, in $HWNAS_TABLES or "
                "~/.local/share/hwnas/latency_tables, else those shipped with hwnas)")
    parser.add_argument("--tables-dir", help=text)
