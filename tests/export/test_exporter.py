
import numpy as np
import onnx
import pytest
import torch

from hwnas.export.exporter import ExportMismatchError, export_network
from hwnas.spaces import list_spaces, make_space

SMALL = {
    "darts": dict(init_channels=8, layers=5, input_size=16),
    "nb201": dict(init_channels=8, layers=1, input_size=16),
    "fbnet": dict(input_size=16, num_classes=10),
    "mbv3": dict(input_size=8, in_channels=1),
}


@pytest.mark.parametrize("name", sorted(list_spaces()))
@pytest.mark.parametrize("seed", [0, 1])
def test_random_genotype_exports_with_ort_parity(name, seed, tmp_path):
    space = make_space(name, **SMALL[name])
    genotype = space.sample(np.random.default_rng(seed))
    torch.manual_seed(seed)
    net = space.build(genotype)
    # Non-trivial BN statistics, so parity is tested on a network that is not at its init.
    net.train()
    with torch.no_grad():
        for _ in range(2):
            net(torch.randn(4, *space.input_shape))
    path = tmp_path / "model.onnx"
    _, report = export_network(net, space.input_shape, path, dynamic_batch=True)
    onnx.checker.check_model(onnx.load(str(path)))
    assert report.max_abs_diff < 1e-3 and report.batch_sizes_checked == [1, 3]


class Wrong(torch.nn.Module):
    """Differs between PyTorch and ONNX: the traced branch is not what runs in eval."""

    def forward(self, x):
        if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
            return x * 2
        return x


def test_parity_failure_writes_nothing(tmp_path):
    path = tmp_path / "bad.onnx"
    with pytest.raises(ExportMismatchError, match="nothing was written"):
        export_network(Wrong(), (1, 4, 4), path)
    assert not path.exists()


