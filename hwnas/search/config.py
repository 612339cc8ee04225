"""Every setting of a search run, recorded in ``runs/<name>/config.json``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from hwnas.core.settings import DataSettings
from hwnas.core.units import parse_count, parse_latency_ms

OPTIMIZERS = ("first", "second", "one-level")
# Images a CPU search reads from a large data set when --limit is not given: with the 5 default
# epochs, the best of the equal-time settings scripts/bench_nb201_search.py compared (docs/results/search.md).
CPU_SEARCH_IMAGES = {"cifar10": 2000}
RELAXATIONS = ("softmax", "gumbel", "gdas")  # see hwnas.search.arch.Architecture.weights
LOSS_FORMS = ("budget", "fbnet", "mnas", "linear")  # see hwnas.search.penalty.penalty_loss


@dataclass
class SearchConfig(DataSettings):
    what = "search"

    val_fraction: float = 0.5  # half the training images choose the architecture
    # what to search
    space: str = "darts"
    # the proxy network that is trained during the search (None: the space's search default)
    init_channels: Optional[int] = None
    layers: Optional[int] = None
    # the final network whose latency and size are penalised (None: the space's default)
    final_init_channels: Optional[int] = None
    final_layers: Optional[int] = None
    # algorithm
    relax: str = "softmax"
    optimizer: str = "first"
    epochs: int = 5
    batch_size: int = 64
    w_lr: float = 0.025
    w_lr_min: float = 0.001
    w_momentum: float = 0.9
    w_weight_decay: float = 3e-4
    grad_clip: float = 5.0
    a_lr: Optional[float] = None  # None: 3e-4 (DARTS) with >= 10k training images, else 1e-2
    a_weight_decay: float = 1e-3
    unrolled_lr: Optional[float] = None  # xi of the second-order step (default: the current w_lr)
    hessian_radius: float = 0.01  # finite-difference radius of the second-order step (DARTS: 0.01)
    tau_max: float = 5.0
    tau_min: float = 0.1
    warmup_epochs: int = 0
    # hardware awareness
    device: str = "cpu"
    tables_dir: Optional[str] = None
    latency_budget_ms: Optional[float] = None
    latency_loss: Optional[str] = None  # budget | fbnet | mnas | linear
    latency_weight: float = 0.0
    param_budget: Optional[int] = None
    # Penalise budgets in the architecture loss. None: only where the derivation cannot keep them
    # exactly; a space small enough to list (NAS-Bench-201) keeps them by its exact derivation, and
    # a penalty would only pull the weights towards cheap operations (see hwnas.search.repair).
    budget_penalty: Optional[bool] = None
    measure_budget: bool = True  # export and time the derived network; repair until it keeps the budget
    max_skip: Optional[int] = 2
    beta_decay: float = 0.0  # beta-DARTS: weight of the logsumexp regulariser, ramped up linearly over the epochs
    partial_channels: int = 1  # PC-DARTS: 1/K of the channels through the mixed operations, with edge normalisation
    # P-DARTS-style stages: [[epoch, k(, layers)], ...]: after that epoch keep the k strongest candidates per
    # position (and from there on search on a proxy of that many layers, its weights trained anew)
    progressive: Optional[List[List[int]]] = None
    # run
    # DARTS supernet: recompute the first N cells in backward instead of storing them (memory; None: 3)
    checkpoint_cells: Optional[int] = None
    checkpoint_every_s: float = 60.0

    def supernet_options(self) -> Dict[str, Any]:
        """How the search builds its supernet (a run's checkpoint holds weights of that structure):
        partial channels, and positions batched only under soft weights (not GDAS' one-hot)."""
        return {"partial": self.partial_channels, "batch_edges": self.relax != "gdas"}

    def validate(self) -> None:
        if self.relax not in RELAXATIONS:
            raise ValueError(f"--relax must be one of {', '.join(RELAXATIONS)}, got {self.relax!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.latency_loss is not None and self.latency_loss not in LOSS_FORMS:
            raise ValueError(f"--latency-loss must be one of {', '.join(LOSS_FORMS)}, got {self.latency_loss!r}")
        if self.latency_loss in ("budget", "mnas") and self.latency_budget_ms is None:
            raise ValueError(f"--latency-loss {self.latency_loss} needs --latency-budget (e.g. 10ms)")
        if self.latency_loss == "linear" and self.latency_weight <= 0:
            raise ValueError("--latency-loss linear needs a positive --latency-weight")
        self.check_positive("epochs", "batch_size", "partial_channels")
        if self.beta_decay < 0:
            raise ValueError(f"--beta-decay must be 0 or more, got {self.beta_decay}")
        stages = self.progressive or []
        shaped = all(len(s) in (2, 3) for s in stages)
        epochs = [s[0] for s in stages] if shaped else []
        keeps = [s[1] for s in stages] if shaped else []
        if stages and (not shaped or epochs != sorted(set(epochs)) or epochs[0] < 1 or epochs[-1] >= self.epochs
                       or min(keeps) < 1 or keeps != sorted(keeps, reverse=True)
                       or any(s[2] < 1 for s in stages if len(s) > 2)):
            raise ValueError(f"--progressive takes EPOCH:KEEP[:LAYERS] stages with epochs rising inside "
                             f"1..{self.epochs - 1}, candidates kept falling and at least 1 layer (e.g. 2:4,4:2 or "
                             f"2:3:8,4:2:11), got {','.join(':'.join(map(str, s)) for s in stages)}")
        if self.optimizer == "second" and self.relax != "softmax":
            raise ValueError("the second-order step is DARTS' (softmax relaxation); use --optimizer first with "
                             f"--relax {self.relax}")


def search_config(space: str = "darts", *, latency_budget: Optional[str | float] = None,
                  param_budget: Optional[str | int] = None, **settings: Any) -> SearchConfig:
    """A search's settings with the defaults a user expects: budgets as text (``"10ms"``,
    ``"1.5M"``) or numbers (ms, parameters; ``latency_budget_ms`` is taken too), a subset of a
    large data set on a CPU (:data:`CPU_SEARCH_IMAGES`), the budget loss where a budget is given."""
    if latency_budget is None:
        latency_budget = settings.pop("latency_budget_ms", None)
    budget = parse_latency_ms(latency_budget) if latency_budget is not None else None
    if settings.get("limit") is None and settings.get("torch_device", "cpu") == "cpu":
        settings["limit"] = CPU_SEARCH_IMAGES.get(settings.get("dataset", "digits"))
    if settings.get("latency_loss") is None:
        settings["latency_loss"] = "budget" if budget else "linear" if settings.get("latency_weight") else None
    param_budget = settings.pop("param_budget", None) if param_budget is None else param_budget
    params = parse_count(param_budget) if param_budget is not None else None
    return SearchConfig.from_dict({**settings, "space": space, "latency_budget_ms": budget, "param_budget": params})
