import numpy as np

from hwnas.spaces.genotypes import DARTS_OPS
from hwnas.spaces import make_space
from hwnas.spaces.darts import darts_edges

TINY = {"darts": dict(init_channels=4, layers=3, input_size=8, in_channels=1),
        "nb201": dict(init_channels=4, layers=1, input_size=8, in_channels=1),
        "fbnet": dict(input_size=8, in_channels=1, num_classes=10),
        "mbv3": dict(input_size=8, in_channels=1)}


def test_darts_derivation_on_hand_made_alpha():
    space = make_space("darts", **TINY["darts"])
    w = np.full((len(darts_edges()), len(DARTS_OPS)), 0.01)
    edges = darts_edges()
    # node 0: edges from 0 and 1; make input 1 strong with sep_conv_5x5, input 0 with none (ignored) + avg_pool
    w[edges.index((0, 0)), DARTS_OPS.index("none")] = 0.9
    w[edges.index((0, 0)), DARTS_OPS.index("avg_pool_3x3")] = 0.05
    w[edges.index((0, 1)), DARTS_OPS.index("sep_conv_5x5")] = 0.8
    # node 3: inputs 3 and 4 strongest with skips -> skips capped at 2 overall in the normal cell
    for node, src in ((1, 2), (2, 3), (3, 4), (3, 1)):
        w[edges.index((node, src)), DARTS_OPS.index("skip_connect")] = 0.7
    g = space.derive({"normal": w, "reduce": w}, max_skip=None)
    assert g.normal[:2] == (("avg_pool_3x3", 0), ("sep_conv_5x5", 1))
    assert ("skip_connect", 4) in g.normal[6:] and ("skip_connect", 1) in g.normal[6:]
    assert sum(op == "skip_connect" for op, _ in g.normal) == 4
    capped = space.derive({"normal": w, "reduce": w}, max_skip=2)
    assert sum(op == "skip_connect" for op, _ in capped.normal) == 2
    assert sum(op == "skip_connect" for op, _ in capped.reduce) == 4  # the cap is for normal cells


def test_argmax_derivation_nb201_and_fbnet():
    nb = make_space("nb201", **TINY["nb201"])
    w = np.zeros((6, 5))
    w[np.arange(6), [3, 0, 1, 2, 4, 3]] = 1
    assert nb.derive({"cell": w}).ops == ("nor_conv_3x3", "none", "skip_connect", "nor_conv_1x1", "avg_pool_3x3",
                                          "nor_conv_3x3")
    fb = make_space("fbnet", **TINY["fbnet"])
    w = np.zeros((22, 9))
    w[:, 8] = 1
    assert set(fb.derive({"layers": w}).ops) == {"skip"}
