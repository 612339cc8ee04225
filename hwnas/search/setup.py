"""Assemble a search from its settings: data, proxy and final spaces, table, cost models."""

from __future__ import annotations

from pathlib import Path
from typing import Dict


from hwnas.core.distributed import ALONE, World
from hwnas.runs import RunFolder
from hwnas.search.config import SearchConfig
from hwnas.search.searcher import Searcher
from hwnas.spaces import SearchSpace, make_space
from hwnas.spaces.registry import space_class



def spaces_for(cfg: SearchConfig, input_size: int, in_channels: int, num_classes: int):
    """(proxy space, final space) for the data's image shape and classes."""
    data = dict(input_size=input_size, in_channels=in_channels, num_classes=num_classes)
    cls = space_class(cfg.space)
    defaults = cls.tiny_proxy if input_size < 16 else cls.proxy  # the proxy trained when none is given
    proxy = make_space(cfg.space, init_channels=cfg.init_channels or defaults.get("init_channels"),
                       layers=cfg.layers or defaults.get("layers"), **data)
    final = make_space(cfg.space, init_channels=cfg.final_init_channels, layers=cfg.final_layers, **data)
    return proxy, final


def needs_table(cfg: SearchConfig) -> bool:
    return cfg.latency_loss is not None or cfg.latency_budget_ms is not None


def check_budget(final: SearchSpace, table, cfg: SearchConfig) -> Dict[str, float]:
    """The cheapest and dearest networks' table latency; a budget below the cheapest is an error."""
    low, high = table.costs().range()
    if cfg.latency_budget_ms is not None and cfg.latency_budget_ms < low:
        raise ValueError(f"--latency-budget {cfg.latency_budget_ms:g}ms is below the cheapest network of this space "
                         f"on {table.device_id}: {low:.3f} ms (the dearest takes {high:.3f} ms)")
    return {"min_latency_ms": low, "max_latency_ms": high}


def check_param_budget(final: SearchSpace, cfg: SearchConfig) -> None:
    """A parameter budget below the smallest network of the space is an error that gives the minimum."""
    if cfg.param_budget is None:
        return
    smallest, _ = final.params.extremes()  # parameters add up over pieces like latency
    low = int(final.params.many(smallest)[0])
    if cfg.param_budget < low:
        raise ValueError(f"--param-budget {cfg.param_budget:,} is below the smallest network of this space: "
                         f"{low:,} parameters")


def check_steps(train: int, val: int, classes: int, batch_size: int) -> None:
    """Refuse a search that would take no step (it would derive a genotype from untrained weights)."""
    if classes < 2:
        raise ValueError(f"the data has {classes} class(es); a search needs at least 2 to learn anything")
    smaller = min(train, val)
    if smaller < batch_size:
        which = "training" if train <= val else "validation (architecture step)"
        raise ValueError(f"the search would take no step: the {which} split has {smaller} image(s), fewer than one "
                         f"batch of {batch_size}; use a smaller --batch-size (at most {max(smaller, 1)}) or more data")


def prepare(cfg: SearchConfig, run_dir: str | Path, world: World = ALONE) -> Searcher:
    from hwnas.core.data import load_splits, make_loader
    from hwnas.table import load_table_for

    cfg.validate()
    if cfg.tables_dir is not None and not Path(cfg.tables_dir).is_dir():
        raise FileNotFoundError(f"--tables-dir {cfg.tables_dir} is not a folder; give the folder hwnas profile "
                                f"--tables-dir wrote, or leave the option out for your own tables, else the shipped ones")
    splits = load_splits(cfg.dataset, data_dir=cfg.data_dir, download=cfg.download, val_fraction=cfg.val_fraction,
                         seed=cfg.seed, limit=cfg.limit, image_size=cfg.image_size)
    info = splits.info
    check_steps(len(splits.train), len(splits.val), info.num_classes, cfg.batch_size)
    world.check_batch(cfg.batch_size)
    proxy, final = spaces_for(cfg, info.input_size, info.in_channels, info.num_classes)
    check_param_budget(final, cfg)
    table, missing = None, None
    try:
        table = load_table_for(cfg.device, final, tables_dir=cfg.tables_dir)
    except FileNotFoundError as exc:
        if needs_table(cfg):
            raise
        missing = str(exc)  # a search without latency: said at its start and in its results
    lat, extremes = None, {}
    if table is not None:
        extremes = check_budget(final, table, cfg)
        lat = table.costs()
    searcher = Searcher(cfg, proxy, final, splits.train, splits.val, run_dir, latency=lat,
                        params=final.params, table=table, make_loader=make_loader, world=world)
    searcher.latency_range = extremes
    searcher.missing_table = missing
    return searcher


def load_run_config(run_dir: str | Path) -> SearchConfig:
    """The settings a search run folder was started with."""
    config = RunFolder(run_dir).read_config("search run")
    if "search" not in config:
        raise ValueError(f"{Path(run_dir) / 'config.json'} holds no search settings: is {run_dir} a search run folder?")
    cfg = SearchConfig.from_dict(config["search"])
    was = config.get("final", {}).get("space_hash")  # a space file: what it described when the run began
    now = space_class(cfg.space).description.hash if was else None
    if was != now:
        raise ValueError(f"{cfg.space} describes another space than when {run_dir} began (its hash was {was}, is "
                         f"{now}): restore the file as it was, or start a new --name")
    return cfg
