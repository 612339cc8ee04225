"""hwnas from Python: one call per stage of the pipeline, each returning what it made.

    from hwnas import api

    found = api.search("nb201", latency_budget="0.1ms", epochs=2, limit=500, name="first")
    front = api.pareto(["runs/first"], objectives=["error", "latency", "params"])

The command line is built on these calls (``hwnas search`` parses its flags into a
:class:`~hwnas.search.config.SearchConfig` and calls :func:`run_search`, and so on). Messages go
to ``say`` (the command line passes ``print``; by default they are logged), progress bars to
stderr where ``progress`` is true. Mistakes raise ``ValueError``, ``FileNotFoundError`` or
hwnas's own errors (a missing table row's ``MissingRowsError``, a device's
``DeviceUnavailableError``), each with the one line the command line prints.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import pandas as pd

from hwnas.core.curves import require_tensorboard
from hwnas.core.progress import Feed, feedback, progress_bar
from hwnas.core.units import parse_count, parse_latency_ms
from hwnas.runs import changed_settings, long_run, run_folder
from hwnas.search.config import SearchConfig, search_config
from hwnas.search.result import SearchResult
from hwnas.spaces.genotypes import Genotype, load_genotype
from hwnas.table import LatencyTable
from hwnas.train import TrainConfig, TrainResult

__all__ = ["Profile", "profile", "search_config", "search", "run_search", "train", "run_training", "Pareto", "pareto",
           "Export", "export"]
log = logging.getLogger("hwnas")
Say = Callable[[str], None]
Check = Callable[[Any], List[str]]  # recorded settings -> what the caller's settings would change


def _say(say: Optional[Say]) -> Say:
    return say or log.info


# ---------------------------------------------------------------------------------------------
# profile


@dataclass
class Profile:
    """A device's latency table of a space configuration, where it was written, and its check
    against whole networks (``None`` where it was not calibrated now)."""

    table: LatencyTable
    path: Path
    validation: Optional[Dict[str, Any]]


def profile(space: str, device: str = "cpu", *, tables_dir: Optional[str] = None, force: bool = False,
            warmup: int = 5, repeats: int = 100, validate: Optional[int] = None, seed: int = 0,
            say: Optional[Say] = None, progress: bool = False, **network: Any) -> Profile:
    """Time every piece of ``space`` (with ``network`` options: ``input_size``, ``layers``...) on
    ``device``, then fit the table to ``validate`` whole networks (default: about 150 s worth; 0:
    none). Resumes a table left half-built; ``force`` re-measures it."""
    from hwnas.device.spec import resolve_device
    from hwnas.profile.build import build_table
    from hwnas.profile.calibrate import default_networks, validate_and_calibrate
    from hwnas.spaces import make_space
    from hwnas.table import writable_table_path

    say = _say(say)
    spec = resolve_device(device)
    priced = make_space(space, **network)
    path = writable_table_path(spec.id, priced, tables_dir)
    table = build_table(priced, spec, tables_dir=tables_dir, force=force, warmup=warmup, repeats=repeats,
                        progress=progress_bar(f"profile {spec.id}", "op", progress))
    say(f"table: {path} ({len(table.rows)} rows, overhead {table.overhead_ms * 1000:.1f} us subtracted, "
        f"{table.meta['build_seconds']:.0f} s of profiling)")
    if validate is None and table.meta.get("validation"):  # a finished table, asked again: keep its fit
        say("already calibrated (hwnas validate -n N checks and fits it again)")
        return Profile(table, path, None)
    n = default_networks(table) if validate is None else validate
    if not n:
        say("not calibrated (--validate 0): the table predicts the raw sum of its pieces")
        return Profile(table, path, None)
    say(f"calibrating with {n} whole networks measured end to end (--validate 0 skips it)")
    result = validate_and_calibrate(table, path, spec, n=n, seed=seed,
                                    progress=progress_bar(f"validate {spec.id}", "net", progress))
    return Profile(table, path, result)


# ---------------------------------------------------------------------------------------------
# search and train: runs in runs/NAME, resumable


def search(space: Optional[str] = None, *, name: str = "search", runs_dir: str | Path = "runs", resume: bool = False,
           overwrite: bool = False, say: Optional[Say] = None, progress: bool = False, tensorboard: bool = False,
           **settings: Any) -> Optional[SearchResult]:
    """Search ``space`` (default ``darts``; on ``resume``, the run's) under the budgets of
    ``settings`` (fields of :class:`~hwnas.search.config.SearchConfig`; ``latency_budget`` and
    ``param_budget`` as in :func:`~hwnas.search.config.search_config`) in ``runs_dir/name``: the
    derived genotype, its table latency and, under a latency budget, its measured latency."""
    cfg = search_config(space or "darts", **settings)
    given = [f.name for f in fields(cfg) if f.name in settings] + ["space"] * (space is not None) + \
        ["latency_budget_ms"] * ("latency_budget" in settings)
    return run_search(cfg, run_folder(runs_dir, name, resume, overwrite), resume=resume, overwrite=overwrite,
                      check=lambda recorded: changed_settings(cfg, recorded, given), say=say, progress=progress,
                      tensorboard=tensorboard)


def run_search(cfg: SearchConfig, run_dir: Path, *, resume: bool = False, overwrite: bool = False,
               check: Optional[Check] = None, say: Optional[Say] = None, progress: bool = False,
               tensorboard: bool = False, on_step: Optional[Feed] = None,
               on_epoch: Optional[Feed] = None) -> Optional[SearchResult]:
    """Run the search ``cfg`` describes in ``run_dir``, one process or a rank under torchrun (rank
    0 returns the result, the others ``None``); ``check`` refuses a resume that would change the
    run's settings; ``tensorboard`` writes its curves into ``run_dir``; ``on_step`` is called on
    every rank after each step, ``on_epoch`` on rank 0 after each epoch. Raises
    :class:`hwnas.runs.Interrupted` on Ctrl-C, the run resumable."""
    from hwnas.search.setup import load_run_config, prepare

    say = _say(say)
    if tensorboard:
        require_tensorboard()  # before any work
    with long_run(run_dir, "a search", cfg, load_run_config, resume=resume, overwrite=overwrite, check=check,
                  say=say) as (world, settings):
        searcher = prepare(settings, run_dir, world)
        if world.is_main:
            _announce(settings, searcher, world, say)
        steps = len(searcher.train_set) // settings.batch_size
        with feedback(settings.epochs * steps, searcher.epoch * steps + searcher.step_in_epoch,
                      f"search {settings.space}", bar=progress and world.is_main,
                      curves=run_dir if tensorboard and world.is_main else None, on_step=on_step, on_epoch=on_epoch,
                      say=say) as (step, epoch):
            return searcher.run(resume=resume, progress=step, on_epoch=epoch if world.is_main else None)


def _announce(cfg: SearchConfig, searcher: Any, world: Any, say: Say) -> None:
    if world.parallel:
        say(f"data-parallel search: {world.size} processes ({world.backend}), global batch {cfg.batch_size}")
    if searcher.missing_table:
        say(f"latency unknown: this search runs without latency ({searcher.missing_table})")
    if searcher.latency_range:
        r = searcher.latency_range
        budget = f"budget {cfg.latency_budget_ms:g} ms; " if cfg.latency_budget_ms else ""
        say(f"{budget}final {cfg.space} networks take {r['min_latency_ms']:.3f} to {r['max_latency_ms']:.3f} ms on "
            f"{cfg.device} (table)")


def train(genotype: str | Path | Genotype, *, name: str = "train", runs_dir: str | Path = "runs",
          resume: bool = False, overwrite: bool = False, space: Optional[str] = None, say: Optional[Say] = None,
          progress: bool = False, tensorboard: bool = False, network: Optional[Dict[str, Any]] = None,
          **settings: Any) -> Optional[TrainResult]:
    """Train ``genotype``'s network (a genotype, a file, JSON text or a published name) from
    scratch with ``settings`` (fields of :class:`~hwnas.train.TrainConfig`) in
    ``runs_dir/name``; ``network``: options such as ``init_channels``, ``layers`` (the data set
    decides the input and the classes)."""
    cfg = TrainConfig.from_dict(settings)
    given = [f.name for f in fields(cfg) if f.name in settings]
    return run_training(load_genotype(genotype) if isinstance(genotype, (str, Path)) else genotype, cfg,
                        run_folder(runs_dir, name, resume, overwrite), resume=resume, overwrite=overwrite,
                        space=space, network=network, check=lambda recorded: changed_settings(cfg, recorded, given),
                        say=say, progress=progress, tensorboard=tensorboard)


def run_training(genotype: Genotype, cfg: TrainConfig, run_dir: Path, *, resume: bool = False, overwrite: bool = False,
                 space: Optional[str] = None, network: Optional[Dict[str, Any]] = None, check: Optional[Check] = None,
                 say: Optional[Say] = None, progress: bool = False, tensorboard: bool = False,
                 on_epoch: Optional[Feed] = None) -> Optional[TrainResult]:
    """Train in ``run_dir`` as :func:`run_search` searches: rank 0 returns the result. ``space``
    (a name or a file) must be the genotype's; by default it is the one the genotype records."""
    from hwnas.runs import space_source
    from hwnas.train import prepare_training, recorded_training

    space, say = space_source(space, [genotype]), _say(say)  # checked before any work
    decided = [k for k in ("input_size", "in_channels", "num_classes") if (network or {}).get(k) is not None]
    if decided:
        raise ValueError(f"--{decided[0].replace('_', '-')}: in hwnas train the data set decides the image shape and "
                         f"classes; leave it out (for imagefolder, --image-size sets the side)")
    if tensorboard:
        require_tensorboard()
    with long_run(run_dir, "a training run", cfg, recorded_training, resume=resume, overwrite=overwrite, check=check,
                  say=say) as (world, settings):
        world.check_batch(settings.batch_size)
        trainer = prepare_training(genotype, settings, run_dir, world, space=space, **(network or {}))
        steps = max(1, len(trainer.splits.train) // settings.batch_size)
        with feedback(settings.epochs * steps, trainer.epoch * steps if resume else 0, "train",
                      bar=progress and world.is_main, curves=run_dir if tensorboard and world.is_main else None,
                      on_epoch=on_epoch, say=say) as (step, epoch):
            return trainer.run(resume=resume, progress=step, on_epoch=epoch if world.is_main else None)


# ---------------------------------------------------------------------------------------------
# pareto


@dataclass
class Pareto:
    """A Pareto run: the ``front`` and every ``evaluated`` genotype (one row each: its objectives
    and its genotype as JSON), written to ``out_dir`` with its ``plots`` (``report.html`` last)."""

    front: pd.DataFrame
    evaluated: pd.DataFrame
    out_dir: Path
    plots: List[Path]


def pareto(runs: Sequence[str | Path] = (), *, space: Optional[str] = None,
           objectives: Sequence[str] = ("error", "latency", "params"), device: str = "cpu",
           tables_dir: Optional[str] = None, benchmark: Optional[str] = None, benchmark_file: Optional[str] = None,
           benchmark_dataset: str = "cifar10", latency_budget: Optional[str | float] = None,
           param_budget: Optional[str | int] = None, pop_size: int = 40, evaluations: int = 1000,
           error_estimate: Optional[str] = None, trained: Sequence[str | Path] = (), val_images: int = 512,
           seed: int = 0, workers: int = 0, ray_address: Optional[str] = None, out: Optional[str | Path] = None,
           say: Optional[Say] = None) -> Pareto:
    """NSGA-II fronts of ``objectives`` over the space of the search ``runs`` (their genotypes
    seed it; ``error`` estimated from the first run by ``error_estimate``) or of ``space``;
    ``benchmark="nb201"`` reads error and device latencies from NAS-Bench-201; budgets are
    constraints. Written to ``out`` (default: the first run's folder, else ``runs/pareto``)."""
    from hwnas.device import resolve_device
    from hwnas.device.spec import with_precision
    from hwnas.pareto.nsga2 import check_settings, run_nsga2, write_result
    from hwnas.pareto.objectives import DEFAULT_ESTIMATE, PRECISIONS, assemble, check_names
    from hwnas.pareto.plots import plot_run
    from hwnas.pareto.predictor import describe_quality
    from hwnas.pareto.report import write_report
    from hwnas.runs import searched_genotypes, space_source
    from hwnas.search.setup import load_run_config
    from hwnas.spaces import make_space
    from hwnas.spaces.genotypes import genotype_to_json
    from hwnas.table import load_table_for

    say, names, runs = _say(say), list(objectives), [str(r) for r in runs]
    estimate_by = error_estimate or DEFAULT_ESTIMATE
    check_names(names)
    check_settings(pop_size, evaluations)
    if benchmark not in (None, "nb201"):
        raise ValueError(f"benchmark {benchmark!r}: the benchmark hwnas reads is nb201")
    genotypes = searched_genotypes(runs)
    space_name = space_source(space, genotypes)
    bench, error, table = None, None, None
    if workers:
        if benchmark or not runs:
            raise ValueError("--workers spreads the error estimate of search runs over Ray workers; without runs, "
                             "or with --benchmark (a table lookup), there is nothing to spread: leave it out")
        from hwnas.pareto.ray_workers import require_ray

        require_ray()  # before any work: say what to install
    if benchmark == "nb201":
        if space_name != "nb201":
            raise ValueError("--benchmark nb201 needs the nb201 space")
        from hwnas.pareto.nb201_bench import NB201Benchmark

        table201 = NB201Benchmark(benchmark_file) if benchmark_file else NB201Benchmark()
        bench = table201.objectives([n for n in names if n != "latency"], dataset=benchmark_dataset)
        priced = make_space("nb201")
    elif runs:
        from hwnas.pareto.estimates import error_from_run

        priced, error = error_from_run(runs[0], estimate_by, val_images=val_images, seed=seed,
                                       needed="error" in names and not workers, trained=[str(t) for t in trained])
        for line in describe_quality(getattr(error, "quality", None)):
            say(line)
        if workers and "error" in names:
            from hwnas.pareto.ray_workers import EstimateRecipe, RayEvaluator

            error = RayEvaluator(EstimateRecipe(runs[0], estimate_by, val_images, seed, tuple(map(str, trained))),
                                 workers, ray_address)
            say(f"error estimates ({estimate_by}) on {workers} Ray workers"
                f"{f' at {ray_address}' if ray_address else ' on this machine'}")
    else:
        priced = make_space(space_name)
    spec = resolve_device(device)
    if "latency" in names or latency_budget is not None:
        table = load_table_for(device, priced, tables_dir=tables_dir)
    tables_at = {p: load_table_for(with_precision(device, p), priced, tables_dir=tables_dir)
                 for p in PRECISIONS if f"latency_{p}" in names}
    budget_ms = parse_latency_ms(latency_budget) if latency_budget is not None else None
    if budget_ms is not None:
        low, high = table.costs().range()
        if budget_ms < low:  # NSGA-II would search for nothing and print an empty front
            raise ValueError(f"--latency-budget {latency_budget}: no network of this space keeps it; the cheapest "
                             f"takes {low:.3f} ms on {table.device_id} (the dearest {high:.3f} ms)")
    params = parse_count(param_budget) if param_budget is not None else None
    goals = assemble(names, priced, error=error, table=table, benchmark=bench, latency_budget_ms=budget_ms,
                     param_budget=params, precision=spec.precision, tables_at=tables_at)
    out_dir = Path(out) if out else (Path(runs[0]) if runs else Path("runs") / "pareto")
    out_dir.mkdir(parents=True, exist_ok=True)

    def progress(row: Dict[str, Any]) -> None:
        say(f"generation {row['generation']:3d}: {row['evaluations']:5d} evaluations, front {row['front_size']:3d}, "
            f"hypervolume {row['hypervolume']:.4g}")

    try:
        result = run_nsga2(priced, goals, pop_size=pop_size, evaluations=evaluations, seed=seed,
                           initial=[priced.encode(g) for g in genotypes], progress=progress)
    finally:
        if hasattr(error, "close"):
            error.close()
    estimated = None if "error" not in names else "nb201" if benchmark else estimate_by
    data = None
    if runs:  # the search's data: the report's train commands use it
        searched_with = load_run_config(runs[0])
        data = {"dataset": searched_with.dataset, "data_dir": searched_with.data_dir}
    write_result(result, out_dir, priced, names, runs=runs, seed=seed, workers=workers, trained=list(map(str, trained)),
                 device=table.device_id if table is not None else (spec.table_id if tables_at else None),
                 benchmark=benchmark, error_estimate=estimated, pop_size=pop_size, evaluations=evaluations,
                 searched=[genotype_to_json(g) for g in genotypes], measure_on=str(device), data=data,
                 predictor_quality=getattr(error, "quality", None))
    if result.front.empty:  # the constraints left no feasible network among those evaluated
        raise ValueError(f"no evaluated network keeps the constraints ({len(result.evaluated)} evaluated; written to "
                         f"{out_dir}); loosen --latency-budget / --param-budget or raise --evaluations")
    return Pareto(result.front, result.evaluated, out_dir, [*plot_run(out_dir), write_report(out_dir)])


# ---------------------------------------------------------------------------------------------
# export


@dataclass
class Export:
    """An exported network: the file written, the fp32 export's ``report`` (an
    :class:`~hwnas.export.exporter.ExportReport`: ONNX Runtime against PyTorch), its ``precision``,
    its test ``accuracy`` where asked (at fp32 a percentage, on ``tested_images`` images; at int8
    or fp16 a :class:`~hwnas.export.quantized.ReducedAccuracy` beside fp32's) and its latency
    ``measured`` on the device (a :class:`~hwnas.check.LatencyCheck`)."""

    path: Path
    report: Any
    precision: str
    accuracy: Any = None
    tested_images: int = 0
    measured: Any = None


def export(genotype: str | Path | Genotype, out: str | Path, *, weights: Optional[str | Path] = None,
           space: Optional[str] = None, device: str = "cpu", precision: Optional[str] = None, measure: bool = False,
           latency_budget: Optional[str | float] = None, accuracy: bool = False, data: Optional[Dict[str, Any]] = None,
           opset: int = 17, dynamic_batch: bool = False, atol: float = 1e-4, rtol: float = 1e-3,
           tables_dir: Optional[str] = None, **network: Any) -> Export:
    """Export ``genotype``'s network (with trained ``weights``; its network options as recorded by
    their training run, or ``network``) to ONNX at ``precision`` (fp32, int8, fp16; default: the
    ``device``'s), checked in ONNX Runtime; ``accuracy`` tests it on ``data`` (``dataset``,
    ``data_dir``, ``limit``, ``seed``...), ``measure`` times it on the device beside the table and
    ``latency_budget``."""
    from hwnas.core import fileio
    from hwnas.device import Model, resolve_device
    from hwnas.export.exporter import export_network, load_weights
    from hwnas.export.measure import measure_exported
    from hwnas.export.quantized import accuracy_splits, compare_accuracy, predictions, quantize
    from hwnas.device.spec import with_precision
    from hwnas.runs import genotype_space

    device = with_precision(device, precision) if precision else device
    if latency_budget is not None and not measure:
        raise ValueError("--latency-budget is checked by measuring: add --measure")
    if accuracy and not weights:
        raise ValueError("--accuracy reports a trained network's accuracy: add --weights")
    priced, genotype = genotype_space(genotype, space, weights, **network)
    model = priced.build(genotype)
    if weights:
        load_weights(model, weights)
    spec = resolve_device(device)
    reduced = spec.precision != "fp32"
    if spec.precision == "int8" and (dynamic_batch or (measure and spec.batch_size != 1)):
        raise ValueError(f"an int8 export is quantized at batch 1: leave out --dynamic-batch, and measure it on a "
                         f"device of batch_size 1 (device {spec.name!r} has {spec.batch_size})")
    # measured at the device's batch: a file for batch 1 could not take it
    dynamic_batch = dynamic_batch or (measure and spec.batch_size != 1)
    fp32, report = export_network(model, priced.input_shape, None if reduced else out, opset=opset,
                                  dynamic_batch=dynamic_batch, atol=atol, rtol=rtol)
    splits = accuracy_splits(priced, **(data or {})) if accuracy else None
    done = Export(Path(out), report, spec.precision)
    if not reduced and splits is not None:
        p, labels = predictions(fp32, splits.test)
        done.accuracy, done.tested_images = 100 * float((p == labels).mean()), len(labels)
    elif reduced:
        converted = quantize(Model(fp32, ((1, *priced.input_shape),)), splits.train if splits else None, spec.precision)
        fileio.write_bytes(out, converted.onnx)
        if splits is not None:
            done.accuracy = compare_accuracy(fp32, converted.onnx, splits.test, spec.precision)
    if measure:
        budget = parse_latency_ms(latency_budget) if latency_budget is not None else None
        done.measured = measure_exported(out, priced, genotype, device, tables_dir=tables_dir, budget_ms=budget)
    return done
