"""Run by the distributed tests under torchrun: ``ddp_worker.py MODE OUT_DIR``.

grads: one global batch of 5 samples split 3/2 over two ranks; each rank saves the averaged
gradient of a small linear network and, rank 0, the gradient of the whole batch in one process.
search: a tiny NB201 search; each rank saves its architecture logits and supernet weights.
search-interrupted: the same, stopped by a request that reaches rank 0 alone, then resumed.
train, train-interrupted: the same for training a small NB201 network on digits.
"""

import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from hwnas.core.data import make_loader
from hwnas.core.distributed import ALONE, data_parallel
from hwnas.runs import Interrupted
from hwnas.search.config import SearchConfig
from hwnas.search.searcher import Searcher
from hwnas.spaces import make_space


def grads(world, out: Path) -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2))
    x, y = torch.randn(5, 4), torch.tensor([0, 1, 1, 0, 1])
    xs, ys = world.shard(x, y)
    F.cross_entropy(net(xs), ys).backward()
    world.average_gradients(net.parameters(), len(ys), len(y))
    averaged = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    F.cross_entropy(net(x), y).backward()
    torch.save({"averaged": averaged, "whole": [p.grad.clone() for p in net.parameters()]},
               out / f"grads{world.rank}.pt")


def data(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g))


def searcher(world, out: Path) -> Searcher:
    config = SearchConfig(space="nb201", epochs=2, batch_size=16, seed=3, threads=1)
    proxy = make_space("nb201", init_channels=4, layers=1, input_size=8, in_channels=1)
    return Searcher(config, proxy, proxy, data(seed=1), data(seed=2), out / "run",
                    params=proxy.params, make_loader=make_loader, world=world)


def run(world, make, stop_when=None):
    """A run made by ``make``; with ``stop_when(progress stats)``, a stop request that reaches
    rank 0 alone when it is true, then a new run that resumes. Returns the run that finished."""
    job = make()
    if stop_when is None:
        job.run()
        return job

    def progress(stats):
        if world.is_main and stop_when(stats):
            job.stop.requested = True
    try:
        job.run(progress=progress)
        raise SystemExit("the stop request was not honoured")
    except Interrupted:
        pass
    job = make()
    job.run(resume=True)
    return job


def search(world, out: Path, stop_at=None) -> None:
    torch.set_num_threads(1)
    s = run(world, lambda: searcher(world, out),
            None if stop_at is None else lambda stats: (stats["epoch"], stats["step"]) == stop_at)
    genotype = s.derive() if world.is_main else None
    torch.save({"alphas": {k: a.detach().clone() for k, a in s.arch.alphas.items()},
                "weights": {k: v.clone() for k, v in s.net.state_dict().items()},
                "genotype": None if genotype is None else genotype.to_dict(),
                "val_acc": [row["val_acc"] for row in s.metrics]},
               out / f"search{world.rank if world.parallel else 'alone'}.pt")


def train(world, out: Path, interrupt: bool = False) -> None:
    from hwnas.spaces.genotypes import NB201Genotype
    from hwnas.train import TrainConfig, prepare_training

    torch.set_num_threads(1)
    genotype = NB201Genotype("|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|")

    def trainer():
        cfg = TrainConfig(dataset="digits", limit=300, epochs=2, batch_size=32, threads=1, seed=0)
        return prepare_training(genotype, cfg, out / "run", world, init_channels=4, layers=1)

    t = run(world, trainer, (lambda stats: stats["epoch"] == 2) if interrupt else None)  # stop in the second epoch
    torch.save({"weights": {k: v.clone() for k, v in t.model.state_dict().items()},
                "metrics": [{k: v for k, v in row.items() if k != "seconds"} for row in t.metrics]},
               out / f"train{world.rank}.pt")


if __name__ == "__main__":
    mode, out = sys.argv[1], Path(sys.argv[2])
    if mode == "search-alone":
        search(ALONE, out)
    else:
        with data_parallel("cpu") as world:
            if mode == "search-interrupted":
                search(world, out, stop_at=(2, 1))
            elif mode.startswith("train"):
                train(world, out, interrupt=mode == "train-interrupted")
            else:
                {"grads": grads, "search": search}[mode](world, out)
