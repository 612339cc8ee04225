"""What the subcommands share: the user-error type, network and data options."""

from __future__ import annotations

import argparse
import inspect
from typing import Any, Callable, Dict

from hwnas.core.settings import DATASETS, DataSettings
from hwnas.core.space_settings import SPACE_SETTINGS, network_flags


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


# ---------------------------------------------------------------------------------------------
# Shared options


def add_command(sub: Any, name: str, func: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
    """A subcommand ``name`` that runs ``func(args)``; its docstring is the help: the first line
    in the list of commands, the whole in ``hwnas NAME --help``."""
    doc = inspect.getdoc(func) or name
    summary = doc.splitlines()[0].rstrip(".")
    if summary[1:2].islower():  # "Train a network" -> "train a network", but "ONNX ..." stays
        summary = summary[0].lower() + summary[1:]
    parser = sub.add_parser(name, help=summary, description=doc,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(func=func)
    return parser


def add_space_option(parser: Any, required: bool = False, help: str = "search space") -> None:
    parser.add_argument("--space", choices=list(SPACE_SETTINGS), required=required, help=help)


def add_network_options(parser: argparse.ArgumentParser, space_required: bool = False, tables: bool = False) -> None:
    """``--space`` and every space's network options, generated from the spaces' settings
    (for ``tables``: only those that change a latency table)."""
    group = parser.add_argument_group("network (defaults: the space's published final network)")
    add_space_option(group, space_required, "search space" + ("" if space_required else " (default: the genotype's)"))
    for flag in network_flags():
        if tables and not flag.in_tables:
            continue
        name = "--" + flag.name.replace("_", "-")
        if flag.kind is bool:
            group.add_argument(name, action="store_true", help=flag.help)
        else:
            group.add_argument(name, type=flag.kind, choices=flag.choices, help=flag.help)


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """The data set a run reads (defaults: those of :class:`~hwnas.core.settings.DataSettings`)."""
    d = DataSettings()
    parser.add_argument("--dataset", default=d.dataset, help=f"{', '.join(DATASETS)} ({d.dataset}: offline)")
    parser.add_argument("--data-dir", help="dataset folder (cifar10 etc. also read train/<class>/*.jpg folders)")
    parser.add_argument("--download", action="store_true", help="let torchvision download the dataset")
    parser.add_argument("--limit", type=int, help="use at most this many images per split (quick runs)")
    parser.add_argument("--image-size", type=int, default=d.image_size,
                        help=f"imagefolder: resize images to this side ({d.image_size})")


def network_options(args: argparse.Namespace) -> Dict[str, Any]:
    """The network options given on the command line (``None`` where left out)."""
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


def _threads(text: str) -> int:
    if text == "auto":
        return -1
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number of threads or auto, got {text!r}")
    return int(text)


def add_run_options(parser: argparse.ArgumentParser, kind: str, checkpoint: str, trains: str) -> None:
    """Seed, device, and the run folder ``runs/NAME`` with resuming, of a long run (search, train)."""
    parser.add_argument("--seed", type=int, default=0, help="seed (0)")
    parser.add_argument("--torch-device", default="cpu", help=f"where {trains} trains: cpu or cuda (cpu)")
    parser.add_argument("--threads", type=_threads, default=-1, metavar="N|auto",
                        help="PyTorch CPU threads; auto: the cores other processes leave free, re-fitted each epoch, "
                        "so a busy machine slows the run in proportion instead of stalling it (auto)")
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
