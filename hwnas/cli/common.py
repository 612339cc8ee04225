"""What the subcommands share: network, data, device and run options."""

from __future__ import annotations

import argparse
import inspect
import math
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from hwnas.core.settings import DATASETS, DataSettings
from hwnas.spaces.settings import SPACE_SETTINGS, is_space_file, network_flags

PRECISIONS = ("fp32", "fp16", "int8")  # hwnas.device.spec's (kept here: the parser imports no device code)


# ---------------------------------------------------------------------------------------------
# Shared options


def add_device_option(parser: argparse.ArgumentParser, help: str, default: Optional[str] = "cpu") -> None:
    """``--device`` and ``--precision``: the device at a precision is another device (its own
    tables), named ``DEVICE@PRECISION`` from here on (see :func:`device_at_precision`)."""
    parser.add_argument("--device", default=default, help=help)
    parser.add_argument("--precision", choices=PRECISIONS, help="precision the networks run at on the device: fp32, "
                        "int8 (ONNX Runtime's static QDQ quantization, CPU) or fp16 (onnxconverter-common; refused "
                        "where the provider lacks fp16 kernels); default: the device file's, else fp32")


def device_at_precision(args: argparse.Namespace) -> None:
    """Fold ``--precision`` into ``--device`` (``cpu`` -> ``cpu@int8``), so every stage that
    resolves the device, and every run folder that records it, has the precision."""
    if getattr(args, "precision", None):
        from hwnas.device.spec import with_precision  # here: the device package loads torch

        args.device = with_precision(args.device or "cpu", args.precision)


def add_command(sub: Any, name: str, func: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
    """A subcommand ``name`` that runs ``func(args)``; its docstring is the help: the first line
    in the list of commands, the whole in ``hwnas NAME --help``."""
    doc = inspect.getdoc(func) or name
    summary = doc.splitlines()[0].rstrip(".")
    if summary[1:2].islower():  # "Train a network" -> "train a network", but "ONNX ..." stays
        summary = summary[0].lower() + summary[1:]
    parser = sub.add_parser(name, help=summary, description=doc, allow_abbrev=False,  # --epoch is not --epochs
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(func=func)
    return parser


def space_name(text: str) -> str:
    """An argparse type: a built-in space's name, or a space file that exists (made absolute, as
    runs record it)."""
    if text in SPACE_SETTINGS:
        return text
    if is_space_file(text):
        if not Path(text).is_file():
            raise argparse.ArgumentTypeError(f"space file {text} not found")
        return str(Path(text).resolve())
    raise argparse.ArgumentTypeError(f"{text!r} is not a search space: choose one of {', '.join(SPACE_SETTINGS)}, "
                                     f"or name a space file (.yaml)")


def add_space_option(parser: Any, required: bool = False, help: str = "search space") -> None:
    parser.add_argument("--space", type=space_name, required=required, metavar="{" + ",".join(SPACE_SETTINGS) + "}|FILE",
                        help=help + " (or a space file, .yaml)")


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
    parser.add_argument("--limit", type=COUNT, help="use at most this many images per split (quick runs)")
    parser.add_argument("--image-size", type=COUNT, default=d.image_size,
                        help=f"imagefolder: resize images to this side ({d.image_size})")


def network_options(args: argparse.Namespace) -> Dict[str, Any]:
    """The network options given on the command line (``None`` where left out)."""
    return {flag.name: getattr(args, flag.name, None) for flag in network_flags()}


def space_and_genotype(args: argparse.Namespace):
    """The genotype and its space, at the network options given (see :func:`hwnas.runs.genotype_space`)."""
    from hwnas.runs import genotype_space

    return genotype_space(args.genotype, args.space, getattr(args, "weights", None), **network_options(args))


def space_source(given: Optional[str], genotypes: Sequence[Any]) -> str:
    """See :func:`hwnas.runs.space_source` (imported here: the parser loads no run code)."""
    from hwnas.runs import space_source as source

    return source(given, genotypes)


def number(kind: type = float, low: Optional[float] = None, high: Optional[float] = None, open_low: bool = False,
           open_high: bool = False) -> Callable[[str], Any]:
    """An argparse type: a finite ``kind`` (int or float) within the given bounds, else one line
    saying which numbers are allowed."""
    def bound(x: Optional[float], none: str) -> str:
        return none if x is None else str(int(x)) if kind is int else f"{x:g}"

    left, right = "(" if open_low else "[", ")" if open_high else "]"
    allowed = (f"{'an integer' if kind is int else 'a number'}"
               + (f" in {left}{bound(low, '-inf')}, {bound(high, 'inf')}{right}" if low is not None or high is not None
                  else ""))

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {allowed}, got {text!r}") from None
        if not math.isfinite(value) or (low is not None and (value < low or open_low and value == low)) or \
                (high is not None and (value > high or open_high and value == high)):
            raise argparse.ArgumentTypeError(f"expected {allowed}, got {text!r}")
        return value

    return parse


SEED = number(int, 0, 2**32 - 1)  # what NumPy's and scikit-learn's seeds accept
COUNT = number(int, 1)  # epochs, images, evaluations...
NON_NEGATIVE = number(float, 0)
POSITIVE = number(float, 0, open_low=True)
MAX_THREADS_PER_CORE = 4  # more threads than this per core only adds contention


def _threads(text: str) -> int:
    if text == "auto":
        return -1
    cores = os.cpu_count() or 1
    most = MAX_THREADS_PER_CORE * cores
    if not text.isdigit() or not 1 <= int(text) <= most:
        raise argparse.ArgumentTypeError(f"expected auto or a number of threads from 1 to {most} "
                                         f"({MAX_THREADS_PER_CORE}x this machine's {cores} cores), got {text!r}")
    return int(text)


def add_run_options(parser: argparse.ArgumentParser, kind: str, checkpoint: str, trains: str) -> None:
    """Seed, device, and the run folder ``runs/NAME`` with resuming, of a long run (search, train)."""
    parser.add_argument("--seed", type=SEED, default=0, help="seed (0)")
    parser.add_argument("--torch-device", default="cpu", help=f"where {trains} trains: cpu or cuda (cpu)")
    parser.add_argument("--threads", type=_threads, default=-1, metavar="N|auto",
                        help="PyTorch CPU threads; auto: the cores other processes leave free, re-fitted each epoch, "
                        "so a busy machine slows the run in proportion instead of stalling it (auto)")
    parser.add_argument("--name", default=kind, help=f"run name: runs/NAME ({kind})")
    parser.add_argument("--runs-dir", default="runs", help="folder of runs (runs)")
    parser.add_argument("--resume", action="store_true", help=f"continue runs/NAME from {checkpoint}")
    parser.add_argument("--overwrite", action="store_true", help="start runs/NAME afresh")
    parser.add_argument("--tensorboard", action="store_true", help="write the run's curves (losses, accuracies, and "
                        "for a search the architecture's entropy, expected and derived latency and parameters) for "
                        "TensorBoard into runs/NAME (tensorboard --logdir runs/NAME); needs pip install "
                        "'hwnas[tensorboard]'")


def run_folder_of(args: argparse.Namespace) -> Path:
    """``--runs-dir/--name`` (see :func:`hwnas.runs.run_folder`)."""
    from hwnas.runs import run_folder

    return run_folder(args.runs_dir, args.name, getattr(args, "resume", False), getattr(args, "overwrite", False))


def changed_by_flags(asked: Any, recorded: Any, argv: Sequence[str],
                     flags_of: Optional[Dict[str, Sequence[str]]] = None) -> List[str]:
    """'--flag sets field to X (the run has Y)' for each setting of ``asked`` that a flag typed on
    the command line (``argv``) would change from the ``recorded`` run's; ``flags_of`` names the
    flags of settings not set by ``--field-name``."""
    from hwnas.core.settings import RUNTIME_SETTINGS

    given = {token.split("=", 1)[0] for token in argv if token.startswith("--")}
    was = recorded.to_dict()
    out = []
    for field, value in asked.to_dict().items():
        if field in RUNTIME_SETTINGS:  # how it runs: the command line's
            continue
        flags = (flags_of or {}).get(field, ("--" + field.replace("_", "-"),))
        shown = next((f for f in flags if f in given), None)
        if shown and value != was[field]:
            out.append(f"{shown} sets {field} to {value!r} (the run has {was[field]!r})")
    return out


def add_tables_option(parser: argparse.ArgumentParser, writes: bool = False) -> None:
    """``--tables-dir``: where latency tables are read (and, for ``writes``, written)."""
    if writes:
        text = "where the table is written (default: $HWNAS_TABLES, else ~/.local/share/hwnas/latency_tables)"
    else:
        text = ("folder of latency tables (default: the tables profiled on this machine, in $HWNAS_TABLES or "
                "~/.local/share/hwnas/latency_tables, else those shipped with hwnas)")
    parser.add_argument("--tables-dir", help=text)
