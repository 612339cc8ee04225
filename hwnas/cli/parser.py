"""The ``hwnas`` command: one subcommand per stage, each in its own module and thin over the
library; here the parser and the one place errors become exit statuses."""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys
import threading
from typing import Any, List, Optional, Sequence

import hwnas.cli.demo as demo
import hwnas.cli.export as export
import hwnas.cli.info as info
import hwnas.cli.pareto as pareto
import hwnas.cli.profile as profile
import hwnas.cli.search as search
import hwnas.cli.train as train
from hwnas.cli.common import device_at_precision

log = logging.getLogger("hwnas")

# In the order of the pipeline: device -> table -> search -> genotype -> pareto -> train/export.
SUBCOMMANDS = (profile, search, info, pareto, train, export, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hwnas", description="Hardware-aware neural architecture search: profile a device, search under a "
        "latency budget, extract Pareto fronts, train and export.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details; show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in SUBCOMMANDS:
        module.register(sub)
    return parser


def _rank_label() -> str:
    """`` (rank N)`` under torchrun, where every rank reports its own errors."""
    size, rank = os.environ.get("WORLD_SIZE", "1"), os.environ.get("RANK", "0")
    return f" (rank {rank}/{size})" if size not in ("", "1") else ""


def _report(line: str) -> None:
    """One line to stderr in a single write, so the lines of ranks sharing it never interleave."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(_negative_values_joined(argv))
    args.argv = argv  # what was typed: commands that resume refuse flags that would change the run
    device_at_precision(args)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from hwnas.device import target
    from hwnas.device.spec import DeviceUnavailableError
    from hwnas.spaces.genotypes import GenotypeError
    from hwnas.runs import Interrupted
    from hwnas.table import MissingRowsError

    who = f"hwnas {args.command}" + _rank_label()
    announce, target.announce = target.announce, lambda line: _report(f"{who}: {line}")  # the runner, before its use
    on_main = threading.current_thread() is threading.main_thread()  # signals reach the main thread only
    previous = signal.signal(signal.SIGTERM, _interrupt) if on_main else None  # a kill stops like Ctrl-C
    try:
        return int(args.func(args) or 0)
    except (GenotypeError, DeviceUnavailableError, MissingRowsError, FileNotFoundError, ValueError,
            OSError) as exc:  # OSError: a full disk, a folder where a file should be, no permission
        if args.verbose:
            raise
        _report(f"{who}: error: {exc}")
        return 2
    except Interrupted as exc:  # stopped after saving: says how to continue
        _report(f"{who}: {exc}")
        return 130
    except KeyboardInterrupt:
        _report(f"{who}: interrupted")
        return 130
    except Exception as exc:  # a defect of hwnas, not the user's mistake: keep the details, say where
        if args.verbose:
            raise
        path = _write_traceback(args.command)
        print(f"{who}: unexpected error ({type(exc).__name__}: {exc}); this is a bug in hwnas. "
              f"The traceback is in {path}; please report it with that file (or rerun with --verbose)",
              file=sys.stderr)
        return 1
    finally:
        target.announce = announce
        if on_main:
            signal.signal(signal.SIGTERM, previous)


def _negative_values_joined(argv: List[str]) -> List[str]:
    """``--latency-budget -1ms`` as ``--latency-budget=-1ms``: argparse would read ``-1ms`` as an
    option and say only "expected one argument"; joined, the option's own check says what is wrong."""
    out: List[str] = []
    i = 0
    while i < len(argv):
        if argv[i].startswith("--") and "=" not in argv[i] and i + 1 < len(argv) and re.match(r"-[\d.]", argv[i + 1]):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _write_traceback(command: str) -> str:
    import tempfile
    import traceback

    with tempfile.NamedTemporaryFile("w", prefix=f"hwnas-{command}-traceback-", suffix=".txt", delete=False) as f:
        f.write(traceback.format_exc())
    return f.name


if __name__ == "__main__":
    sys.exit(main())
