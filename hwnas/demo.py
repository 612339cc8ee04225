"""``hwnas demo``: the whole pipeline on the offline digits data, in minutes on a CPU.

Table (the shipped CPU table, or this machine profiled and fitted to whole networks when the
shipped one describes another CPU) -> search under a latency budget set between the space's
cheapest and dearest networks, measured on the device at the end -> Pareto front (a zero-cost
error estimate, table latency, parameters) -> train the searched genotype -> export to ONNX with the
parity check -> measure it -> ``runs/demo/report.md``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable, Dict, Optional

from hwnas.core import fileio

log = logging.getLogger(__name__)
Say = Callable[[str], None]
# The final network: DARTS cells at C=16, 8 cells (about 0.2 M parameters). Its weights stay in a
# core's own cache, so its sub-millisecond latency can be measured to a few percent on a shared
# machine; the 20-cell, C=36 network of the DARTS paper (1.5 M parameters at 8x8) lives in the
# cache that other tenants share, and read up to a quarter apart from one minute to the next here.
FINAL_NETWORK = {"final_init_channels": 16, "final_layers": 8}


def run_demo(out: str | Path = "runs/demo", device: str = "cpu", budget_fraction: float = 0.15,
             search_epochs: int = 5, train_epochs: int = 15, pareto_evaluations: int = 200, seed: int = 0,
             say: Say = log.info, tables_dir: Optional[str] = None, resume: bool = False) -> Path:
    """Run the demo into ``out``; with ``resume``, continue a stopped demo's search and training
    from their checkpoints (the table resumes by itself; the Pareto stage is rerun)."""
    from hwnas.runs import Interrupted

    try:
        return _run_demo(out, device, budget_fraction, search_epochs, train_epochs, pareto_evaluations, seed, say,
                         tables_dir, resume)
    except Interrupted as exc:
        raise Interrupted(f"the demo was stopped ({exc}); continue it with: hwnas demo --resume --out {out}"
                          + (f" --device {device}" if device != "cpu" else "")) from None


def _run_demo(out: str | Path, device: str, budget_fraction: float, search_epochs: int, train_epochs: int,
              pareto_evaluations: int, seed: int, say: Say, tables_dir: Optional[str], resume: bool) -> Path:
    from dataclasses import replace

    from hwnas.core.counting import count_flops, count_params
    from hwnas.core.data import load_splits, make_loader
    from hwnas.export.exporter import export_network
    from hwnas.spaces.genotypes import genotype_to_json
    from hwnas.table import load_table_for, table_path
    from hwnas.export.measure import measure_exported
    from hwnas.export.quantized import CALIBRATION_IMAGES, compare_accuracy, quantize
    from hwnas.device import Model, resolve_device
    from hwnas.pareto.objectives import DEFAULT_ESTIMATE
    from hwnas.pareto.zero_cost import ZeroCostEvaluator
    from hwnas.pareto.nsga2 import run_nsga2, write_result
    from hwnas.pareto.objectives import assemble
    from hwnas.pareto.plots import axis_label, plot_run, readable
    from hwnas.pareto.report import write_report
    from hwnas.device import open_target
    from hwnas.search.config import SearchConfig
    from hwnas.search.setup import prepare, spaces_for
    from hwnas.train import TrainConfig, Trainer

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    times: Dict[str, float] = {}
    started = time.perf_counter()

    def lap(name: str, since: float) -> float:
        times[name] = time.perf_counter() - since
        return time.perf_counter()

    t = time.perf_counter()
    splits = load_splits("digits", seed=seed)
    probe = SearchConfig(space="darts", dataset="digits", device=device, tables_dir=tables_dir, seed=seed,
                         **FINAL_NETWORK)
    _, final = spaces_for(probe, splits.info.input_size, splits.info.in_channels, splits.info.num_classes)
    try:
        table = load_table_for(device, final, tables_dir=tables_dir, warn_other_host=False)
        where = None if table.describes(open_target(device)) else f"was profiled on another machine ({table.host})"
    except FileNotFoundError:
        table, where = None, "does not exist yet"
    if where:
        tables_dir = str(out / "tables")
        say(f"[1/5] the table {where}; profiling this device into {tables_dir} (a minute or two)")
        table = profile_here(final, device, tables_dir, seed)
    validation = table.meta.get("validation", {})
    low, high = table.costs().range()
    budget = round(low + budget_fraction * (high - low), 3)
    say(f"[1/5] latency table {table_path(table.device_id, final, tables_dir)}: networks of this space take "
        f"{low:.3f}-{high:.3f} ms on {table.device_id}; budget {budget} ms")
    t = lap("table", t)

    cfg = SearchConfig(space="darts", dataset="digits", epochs=search_epochs, device=device, tables_dir=tables_dir,
                       threads=-1, **FINAL_NETWORK,
                       latency_budget_ms=budget, latency_loss="budget", seed=seed)
    searcher = prepare(cfg, out / "search")
    result = searcher.run(resume=resume and searcher.checkpoint_path.is_file(),
                          on_epoch=lambda r: say(f"      search epoch {r['epoch']}/{search_epochs}: supernet val acc "
                                                 f"{r['val_acc']:.3f}, derived {r['derived_latency_ms']:.3f} ms"))
    genotype = result.genotype
    say(f"[2/5] searched genotype: {out / 'search' / 'genotype.json'} (table {result.latency_ms:.3f} ms"
        f"{', repaired to fit' if result.repaired else ''}); "
        + (result.measured.describe() if result.measured else f"budget {result.measure_note}"))
    t = lap("search", t)

    batch = next(iter(make_loader(splits.train, 64, shuffle=True, seed=seed)))
    evaluator = ZeroCostEvaluator(searcher.proxy, DEFAULT_ESTIMATE, batch, seed=seed)
    objectives = assemble(["error", "latency", "params"], final, error=evaluator, table=table)
    front = run_nsga2(final, objectives, pop_size=40, evaluations=pareto_evaluations, seed=seed,
                      initial=[final.encode(genotype)])
    pareto_dir = out / "pareto"
    write_result(front, pareto_dir, final, objectives.names, device=table.device_id, benchmark=None,
                 error_estimate=DEFAULT_ESTIMATE, seed=seed,
                 pop_size=40, evaluations=pareto_evaluations, searched=[genotype_to_json(genotype)],
                 runs=[str(out / "search")], measure_on=str(device), data={"dataset": "digits"})
    plot_run(pareto_dir)
    write_report(pareto_dir)
    say(f"[3/5] Pareto front: {len(front.front)} genotypes of {len(front.evaluated)} evaluated (error: "
        f"{axis_label('error', None, DEFAULT_ESTIMATE)}); {pareto_dir / 'report.html'}")
    t = lap("pareto", t)

    train_cfg = TrainConfig(dataset="digits", epochs=train_epochs, seed=seed, threads=-1)
    train_splits = load_splits("digits", val_fraction=train_cfg.val_fraction, seed=seed, augment=True)
    trainer = Trainer(final, genotype, train_cfg, train_splits, out / "train", make_loader)
    trained = trainer.run(resume=resume and (out / "train" / "last.pt").is_file(),
                          on_epoch=lambda r: say(f"      train epoch {r['epoch']}/{train_epochs}: val acc "
                                                 f"{r['val_acc']:.3f}") if r["epoch"] % 5 == 0 else None)
    say(f"[4/5] trained from scratch for {train_epochs} epochs: test accuracy {trained.test_acc:.4f}")
    t = lap("train", t)

    model = trainer.model.eval()
    onnx_path = out / "model.onnx"
    _, report = export_network(model, final.input_shape, onnx_path)
    measured = measure_exported(onnx_path, final, genotype, device, tables_dir=tables_dir, budget_ms=budget)
    say(f"[5/5] exported {onnx_path} (ONNX Runtime vs PyTorch max abs diff {report.max_abs_diff:.1e}); "
        f"{measured.describe()}")
    int8_row, spec = [], resolve_device(device)
    if spec.precision == "fp32":  # the same network quantized, beside it
        int8_path, fp32_bytes = out / "model.int8.onnx", onnx_path.read_bytes()
        int8_bytes = quantize(Model(fp32_bytes, ((1, *final.input_shape),)), splits.train).onnx
        fileio.write_bytes(int8_path, int8_bytes)
        int8_accuracy = compare_accuracy(fp32_bytes, int8_bytes, train_splits.test)
        int8_measured = measure_exported(int8_path, final, genotype, replace(spec, precision="int8"),
                                         tables_dir=tables_dir)
        say(f"      int8 {int8_path}: measured {int8_measured.latency_ms:.3f} ms on {int8_measured.device} (fp32: "
            f"{measured.latency_ms:.3f} ms); {int8_accuracy.describe()}")
        int8_row = [
            f"| int8 (`model.int8.onnx`: ONNX Runtime's static QDQ quantization, per-channel weights, calibrated on "
            f"{CALIBRATION_IMAGES} training images) | measured {int8_measured.latency_ms:.3f} ms +-"
            f"{100 * int8_measured.band:.1f}% against fp32's {measured.latency_ms:.3f} ms; "
            f"{int8_accuracy.describe()}{' (**flagged**)' if int8_accuracy.to_dict()['flagged'] else ''} |"]
    lap("export", t)
    total = time.perf_counter() - started

    params, flops = count_params(model), count_flops(model, final.input_shape)
    raw, held_out = validation.get("raw", {}), validation.get("calibrated_heldout", {})
    noise = validation.get("noise")
    front_table = front.front[objectives.names].assign(  # the estimate as its rank, as the plots show it
        error=readable(front.evaluated, DEFAULT_ESTIMATE)(front.front, "error"))
    lines = [
        "# hwnas demo report", "",
        f"Offline digits data (scikit-learn, 8x8), DARTS space, final network C={final.config()['init_channels']}, "
        f"{final.config()['layers']} cells; device `{table.device_id}` (ONNX Runtime, "
        f"{table.meta['device']['provider']}, {table.meta['device']['intra_op_threads']} thread(s)).", "",
        "| | |", "| --- | --- |",
        f"| latency budget | {budget} ms ({int(100 * budget_fraction)}% of the way from the cheapest network, "
        f"{low:.3f} ms, to the dearest, {high:.3f} ms) |",
        f"| predicted latency (table) | {result.latency_ms:.3f} ms{' (after repair)' if result.repaired else ''} |",
        f"| measured latency (trained network, exported ONNX) | {measured.latency_ms:.3f} ms +-"
        f"{100 * measured.band:.1f}% (noise band); table error {measured.error_pct:+.1f}%; machine at "
        f"{100 / (measured.speed or 1):.0f}% of its profiled speed |",
        f"| budget verdict | **{measured.verdict}**: {measured.upper_ms:.3f} ms at the band's edge is "
        f"{100 * measured.upper_ms / budget:.1f}% of the budget, {100 * measured.latency_ms / budget:.1f}% without "
        f"the band |",
        "| measured at the end of the search | " + (
            f"{result.measured.describe()} |" if result.measured else f"{result.measure_note} |"),
        "| table accuracy on held-out networks | " + (
            f"{held_out['n']} networks: MAPE {held_out['mape_pct']:.1f}%, {100 * held_out['within_10pct']:.0f}% "
            f"within +-10%, Spearman {held_out['spearman']:.3f} "
            f"({'calibrated' if validation.get('calibrated') else 'raw sum'}"
            f"; raw sum over all {raw.get('n')}: MAPE {raw.get('mape_pct', float('nan')):.1f}%) |"
            if held_out else "not validated |"),
        "| noise ceiling (the same networks measured twice) | " + (
            f"{100 * noise['remeasure_within_10pct']:.0f}% agree within +-10% (median difference "
            f"{noise['remeasure_median_pct']:.1f}%) |" if noise else "not measured |"),
        f"| parameters | {params:,} |",
        f"| FLOPs (multiply-adds) | {flops:,} |",
        f"| test accuracy (trained {train_epochs} epochs from scratch) | {100 * trained.test_acc:.2f}% |",
        f"| ONNX parity (max abs diff) | {report.max_abs_diff:.1e} |",
        *int8_row,
        f"| wall time | {', '.join(f'{k} {v:.0f} s' for k, v in times.items())}; total {total:.0f} s |", "",
        "Genotype (`search/genotype.json`):", "", "```json", genotype_to_json(genotype), "```", "",
        f"## Pareto front ({len(front.front)} of {len(front.evaluated)} evaluated genotypes; error: "
        f"{axis_label('error', None, DEFAULT_ESTIMATE)})", "",
        "![error vs latency](pareto/front_error_vs_latency.png)", "",
        "Interactive, with every genotype and the commands that train and export it: `pareto/report.html`.", "",
        front_table.to_markdown(index=False, floatfmt=".4g"), "",
    ]
    fileio.write_text(out / "report.md", "\n".join(lines) + "\n")
    return out / "report.md"


def profile_here(space, device: str, tables_dir: str, seed: int):
    """Profile ``space`` on the device's target into ``tables_dir`` (resuming), calibrated as
    ``hwnas profile`` calibrates by default."""
    from hwnas.device.spec import resolve_device
    from hwnas.table import table_path
    from hwnas.profile.calibrate import default_networks, validate_and_calibrate
    from hwnas.profile.build import build_table

    spec = resolve_device(device)
    table = build_table(space, spec, tables_dir=tables_dir)
    if not table.meta.get("validation"):
        validate_and_calibrate(table, table_path(spec.id, space, tables_dir), spec, n=default_networks(table),
                               seed=seed)
    return table
