"""NAS-Bench-201 edges that read one node share their weightless parts (a pooling, a convolution's
leading ReLU): the table counts each once per node because ONNX Runtime runs it once per node."""

import onnx
import onnxruntime as ort
import pytest

from hwnas.spaces.genotypes import NB201Genotype
from hwnas.device.onnx import module_model
from hwnas.spaces import make_space

TINY = dict(init_channels=4, layers=1, input_size=8)


def runtime_nodes(space, ops, tmp_path) -> dict:
    """Relu and 3x3 AveragePool nodes of the network after ONNX Runtime's graph optimisation."""
    model = module_model(space.build(NB201Genotype.from_ops(ops)).eval(), [(1, *space.input_shape)])
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC  # where it merges copies
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(model.onnx, options, providers=["CPUExecutionProvider"])
    nodes = onnx.load(options.optimized_model_filepath).graph.node
    pools = [n for n in nodes if n.op_type == "AveragePool"
             and any(a.name == "kernel_shape" and list(a.ints) == [3, 3] for a in n.attribute)]
    return {"nb201.relu": sum(n.op_type == "Relu" for n in nodes), "avg_pool_3x3": len(pools)}


@pytest.mark.parametrize("ops", [
    ["avg_pool_3x3"] * 6,  # three nodes read by pools: 3 of 6 run
    ["nor_conv_3x3"] * 6,
    ["nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3", "avg_pool_3x3", "nor_conv_1x1", "skip_connect"],
    ["nor_conv_3x3", "skip_connect", "nor_conv_3x3", "none", "none", "avg_pool_3x3"],
    ["none", "avg_pool_3x3", "avg_pool_3x3", "nor_conv_3x3", "none", "nor_conv_1x1"],  # node 1 is dead
    ["skip_connect", "avg_pool_3x3", "avg_pool_3x3", "none", "none", "skip_connect"],  # node 1 is node 0
    ["skip_connect", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3", "skip_connect", "avg_pool_3x3"],
    ["nor_conv_1x1", "skip_connect", "none", "nor_conv_3x3", "avg_pool_3x3", "nor_conv_3x3"],  # node 2 is node 0
    ["skip_connect", "none", "skip_connect", "avg_pool_3x3", "avg_pool_3x3", "avg_pool_3x3"],  # all one tensor
])
def test_pieces_count_what_onnx_runtime_runs(ops, tmp_path):
    space = make_space("nb201", **TINY)
    counted = [p.op for p in space.pieces(NB201Genotype.from_ops(ops))]
    runs = runtime_nodes(space, ops, tmp_path)
    outside_cells = runtime_nodes(space, ["skip_connect"] * 6, tmp_path)  # stem, reductions, head
    for part in ("nb201.relu", "avg_pool_3x3"):
        assert counted.count(part) == runs[part] - outside_cells[part], part
    assert space.costs(lambda p: 1.0).many(space.encode(NB201Genotype.from_ops(ops))[None])[0] == len(counted)


def test_vectorised_cost_is_the_sum_over_pieces_for_every_cell():
    """For one-hot weights the differentiable cost equals the genotype's pieces, for all 5^6 cells."""
    import itertools
    import zlib

    import numpy as np

    space = make_space("nb201", **TINY)
    price = {p.key: 1 + zlib.crc32(p.key.encode()) % 97 for p in space.all_pieces()}  # a distinct price per piece
    x = np.array(list(itertools.product(range(len(space.ops)), repeat=6)))
    many = space.costs(lambda p: price[p.key]).many(x)
    by_pieces = [sum(price[p.key] for p in space.pieces(space.decode(row))) for row in x]
    np.testing.assert_allclose(many, by_pieces)
