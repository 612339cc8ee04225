"""Spaces declared in a file: mbv3 (shipped) and a user's own, built and searched end to end."""

import json

import numpy as np
import pytest
import torch

from hwnas.core.counting import count_flops, count_params
from hwnas.spaces.genotypes import GenotypeError, load_genotype
from hwnas.spaces import make_space
from hwnas.spaces.space_file import SpaceFileError, expand, read_description
from hwnas.table import LatencyTable

USER_SPACE = """\
name: tiny
network: {input_size: 8, in_channels: 1, num_classes: 10}
choices:
  block: ["mb_k{3,5}_e3{,_se}"]
  block_or_skip: ["mb_k{3,5}_e3", skip]
layers:
  - {op: conv_3x3_bn_relu, channels: 8}
  - {choose: block, channels: 16, stride: 2}
  - {choose: block_or_skip, channels: 16, repeat: 2}
  - {op: classifier}
"""


@pytest.fixture
def user_space(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(USER_SPACE)
    return path


def test_expand_is_shell_alternatives():
    assert expand("mb_k{3,5}{,_se}") == ["mb_k3", "mb_k3_se", "mb_k5", "mb_k5_se"]
    assert expand("skip") == ["skip"]


@pytest.mark.parametrize("size,channels", [(32, 3), (8, 1)])
def test_mbv3_builds_and_its_costs_are_the_built_networks(size, channels):
    space = make_space("mbv3", input_size=size, in_channels=channels)
    assert len(space.choosing) == 20 and space.layers[-1].size == 4  # strides fitted to the input
    rng = np.random.default_rng(0)
    genotypes = [space.sample(rng) for _ in range(6)]
    x = np.stack([space.encode(g) for g in genotypes])
    nets = [space.build(g).eval() for g in genotypes]
    assert nets[0](torch.zeros(2, channels, size, size)).shape == (2, 10)
    assert space.params.many(x).tolist() == [float(count_params(n)) for n in nets]
    np.testing.assert_allclose(space.flops.many(x), [count_flops(n, space.input_shape) for n in nets], rtol=1e-9)


def test_mbv3_supernet_at_one_hot_weights_is_the_genotype():
    space = make_space("mbv3", input_size=8, in_channels=1)
    genotype = space.sample(np.random.default_rng(1))
    torch.manual_seed(0)
    supernet = space.supernet().eval()
    weights = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in space.one_hot_weights(genotype).items()}
    out = supernet(torch.randn(2, 1, 8, 8), weights)
    assert out.shape == (2, 10)
    assert space.derive({k: v.numpy() for k, v in weights.items()}) == genotype


def test_a_user_space_records_its_file_and_refuses_a_changed_one(user_space):
    space = make_space(str(user_space))
    assert space.name == "tiny" and space.input_shape == (1, 8, 8)
    genotype = space.sample(np.random.default_rng(0))
    assert genotype.space_file == str(user_space.resolve()) and len(genotype.space_hash) == 12
    again = load_genotype(json.dumps(genotype.to_dict()))
    assert make_space(again.space_file).encode(again).tolist() == space.encode(genotype).tolist()
    user_space.write_text(USER_SPACE.replace("channels: 16, repeat: 2", "channels: 16, repeat: 3"))
    with pytest.raises(GenotypeError, match="now describes another"):
        make_space(str(user_space)).encode(again)


@pytest.mark.parametrize("old,new,where", [
    ("conv_3x3_bn_relu", "conv_3x3_bn_relux", "layers[0].op: 'conv_3x3_bn_relux' is not an operation; did you mean"),
    ("{op: conv_3x3_bn_relu, channels: 8}", "{op: conv_3x3_bn_relu}", "layers[0]: missing field 'channels'"),
    ("channels: 16, stride: 2", "channels: 16, stride: 3", "layers[1].stride must be 1 or 2, got 3"),
    ("repeat: 2", "repeat: 0", "layers[2].repeat must be an integer >= 1, got 0"),
    ("choose: block_or_skip", "choose: blocks", "layers[2].choose: 'blocks' is not among the choices"),
    ("{op: classifier}", "{op: classifier, channels: 4}", "layers[3]: the classifier has no channels"),
    ("  - {op: classifier}\n", "", "layers[2]: the last layer must be {op: classifier}"),
    ("channels: 8}", "channels: 8, kernel: 3}", "layers[0]: unknown field 'kernel'"),
    ('["mb_k{3,5}_e3", skip]', "[skip]", "choices.block_or_skip: a choice needs two or more operations"),
    ("name: tiny", "name: 9tiny", "name: '9tiny' is not a space name"),
    ("name: tiny", "name: tiny\nlayer: []", "unknown field 'layer'"),
    ("layers:", "layers: {", "is not valid YAML"),
    ("choose: block_or_skip", "choose: [block]", "layers[2].choose: ['block'] is not among the choices"),
    ('["mb_k{3,5}_e3", skip]', '["mb_k3_e3", classifier]', "choices.block_or_skip: the classifier is the last layer"),
])
def test_a_malformed_space_file_is_one_line_naming_the_layer_and_field(tmp_path, old, new, where):
    path = tmp_path / "bad.yaml"
    assert old in USER_SPACE
    path.write_text(USER_SPACE.replace(old, new))
    with pytest.raises((SpaceFileError, ValueError)) as err:
        read_description(path)
    assert where in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


def test_a_user_space_end_to_end(user_space, tmp_path):
    """profile, search under a budget, train, export: nothing but the file."""
    from hwnas.cli import main

    tables, runs = tmp_path / "tables", tmp_path / "runs"
    space = ["--space", str(user_space)]
    assert main(["profile", *space, "--tables-dir", str(tables), "--repeats", "10", "--validate", "15"]) == 0
    path = next(tables.glob("cpu/tiny-*.csv"))
    assert json.loads(path.with_suffix(".json").read_text())["space"]["space_hash"]
    _, high = LatencyTable.load(path).costs().range()
    # a budget every network keeps by the table, with room for a measurement of 20 us networks on a
    # busy machine (keeping tight budgets when measured is tests/search/test_measured.py's)
    assert main(["search", *space, "--tables-dir", str(tables), "--runs-dir", str(runs), "--name", "s", "--epochs", "1",
                 "--limit", "64", "--batch-size", "32", "--latency-budget", f"{2 * high:.4f}ms"]) == 0
    genotype = runs / "s" / "genotype.json"
    assert json.loads(genotype.read_text())["space_file"] == str(user_space.resolve())
    assert main(["train", str(genotype), "--space", str(user_space), "--runs-dir", str(runs), "--name", "t", "--epochs", "1",
                 "--limit", "64", "--batch-size", "32"]) == 0
    assert main(["export", str(genotype), "--weights", str(runs / "t" / "best.pt"), "--out", str(tmp_path / "net.onnx")]) == 0
    assert (tmp_path / "net.onnx").stat().st_size > 0


def test_a_run_of_an_edited_space_file_is_not_resumed(user_space, tmp_path, capsys):
    from hwnas.cli import main

    search = ["search", "--space", str(user_space), "--runs-dir", str(tmp_path / "runs"), "--name", "s", "--epochs", "1",
              "--limit", "64", "--batch-size", "32"]
    assert main(search) == 0
    user_space.write_text(USER_SPACE.replace("channels: 16, repeat: 2", "channels: 24, repeat: 2"))
    capsys.readouterr()
    assert main([*search, "--resume"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "describes another space than when" in err[0] and "restore the file" in err[0]


def test_spaces_from_files_pickle_and_refuse_an_edited_file(user_space):
    """Ray workers receive spaces pickled: a space file's class is made at run time, so it travels
    as its file, options and hash."""
    import pickle

    for space in (make_space("mbv3", input_size=8, in_channels=1), make_space(str(user_space))):
        again = pickle.loads(pickle.dumps(space))
        assert type(again) is type(space) and again.config() == space.config() and again.layers == space.layers
    sent = pickle.dumps(make_space(str(user_space)))
    user_space.write_text(USER_SPACE.replace("channels: 16, repeat: 2", "channels: 24, repeat: 2"))
    with pytest.raises(ValueError, match="has changed since this space was sent"):
        pickle.loads(sent)
