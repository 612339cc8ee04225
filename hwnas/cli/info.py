"""``hwnas info``: parameters, FLOPs and table latency of a genotype's network."""

from __future__ import annotations

import argparse
import json
from typing import Any, Dict

from hwnas.cli.common import (add_command, add_device_option, add_network_options, add_tables_option,
                              space_and_genotype)


def cmd_info(args: argparse.Namespace) -> int:
    """Parameters, FLOPs (and table latency) of a genotype.

    Print the parameter count and FLOPs (multiply-adds, counted with fvcore) of a genotype's final
    network; with --device, its latency predicted by the device's table.
    """
    from hwnas.core.counting import count_flops, count_params

    space, genotype = space_and_genotype(args)
    model = space.build(genotype)
    cfg = space.config()
    info: Dict[str, Any] = {
        "space": space.name,
        "genotype": genotype.to_dict(),
        "config": cfg,
        "params": count_params(model, include_aux=True),
        "params_include_aux": bool(cfg.get("auxiliary")),
        "flops": count_flops(model, space.input_shape),
        "input_shape": list(space.input_shape),
    }
    if cfg.get("auxiliary"):
        info["params_without_aux"] = count_params(model)
    if args.device:
        from hwnas.table import load_table_for

        table = load_table_for(args.device, space, tables_dir=args.tables_dir)
        info["latency_ms"] = float(table.costs().of(genotype))
        info["device"] = table.device_id
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    named = space.name if space.source == space.name else f"{space.name} ({space.source}, described {cfg['space_hash']})"
    rows = [("space", named), ("input", "x".join(map(str, space.input_shape)))]
    aux_note = " (auxiliary head included)" if cfg.get("auxiliary") else " (no auxiliary head)" if "auxiliary" in cfg else ""
    rows.append(("parameters", f"{info['params']:,}{aux_note}"))
    if "params_without_aux" in info:
        rows.append(("parameters w/o aux", f"{info['params_without_aux']:,}"))
    rows.append(("FLOPs (multiply-adds)", f"{info['flops']:,} ({info['flops'] / 1e6:.1f} M)"))
    if "latency_ms" in info:
        rows.append((f"latency on {info['device']} (table)", f"{info['latency_ms']:.3f} ms"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0


def register(sub: Any) -> None:
    p = add_command(sub, "info", cmd_info)
    from hwnas.spaces.genotypes import list_genotypes

    p.add_argument("genotype", help=f"a genotype JSON file, JSON text, or a published name ({', '.join(list_genotypes())})")
    add_network_options(p)
    add_device_option(p, "add the latency predicted by this device's table (name, cuda:N or YAML)", default=None)
    add_tables_option(p)
    p.add_argument("--json", action="store_true", help="print JSON")
