import json

import pytest

from hwnas.spaces.genotypes import (
    PUBLISHED, DartsGenotype, GenotypeError, LayerGenotype, NB201Genotype, genotype_from_dict, genotype_to_dict,
    load_genotype, save_genotype,
)

ARCH = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|none~0|avg_pool_3x3~1|nor_conv_1x1~2|"


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_round_trip(name, tmp_path):
    g = PUBLISHED[name]
    assert genotype_from_dict(json.loads(json.dumps(genotype_to_dict(g)))) == g
    save_genotype(g, tmp_path / "g.json")
    assert load_genotype(tmp_path / "g.json") == g
    assert load_genotype(name) == g


def test_darts_paste_from_reference_format():
    text = json.dumps({"space": "darts", "normal": [["sep_conv_3x3", 0], ["sep_conv_3x3", 1]] * 4,
                       "normal_concat": [2, 3, 4, 5], "reduce": [["max_pool_3x3", 0], ["max_pool_3x3", 1]] * 4,
                       "reduce_concat": [2, 3, 4, 5]})
    g = load_genotype(text)
    assert isinstance(g, DartsGenotype) and g.normal[0] == ("sep_conv_3x3", 0)


def test_nb201_ops_and_from_ops():
    g = NB201Genotype(ARCH)
    assert g.ops == ("nor_conv_3x3", "skip_connect", "nor_conv_3x3", "none", "avg_pool_3x3", "nor_conv_1x1")
    assert NB201Genotype.from_ops(g.ops) == g


@pytest.mark.parametrize("bad,match", [
    ({"space": "darts", "normal": [["sep_conv_7x7", 0]] * 8, "reduce": [["max_pool_3x3", 0]] * 8},
     r"normal\[0\]\[0\].*allowed: max_pool_3x3"),
    ({"space": "darts", "normal": [["sep_conv_3x3", 0], ["sep_conv_3x3", 2]] + [["sep_conv_3x3", 0]] * 6,
      "reduce": [["max_pool_3x3", 0]] * 8}, r"normal\[1\]\[1\].*input 0\.\.1"),
    ({"space": "darts", "normal": [["none", 0]] * 8, "reduce": [["max_pool_3x3", 0]] * 8}, "none"),
    ({"space": "darts", "normal": [["sep_conv_3x3", 0]] * 7, "reduce": [["max_pool_3x3", 0]] * 8}, "expected 8"),
    ({"space": "darts", "normal": [["sep_conv_3x3", 0]] * 8, "reduce": [["max_pool_3x3", 0]] * 8,
      "normal_concat": [2, 3]}, "normal_concat"),
    ({"space": "nb201", "arch": "|conv~0|+|skip_connect~0|nor_conv_3x3~1|+|none~0|avg_pool_3x3~1|nor_conv_1x1~2|"},
     "allowed: none, skip_connect"),
    ({"space": "nb201", "arch": "|nor_conv_3x3~0|+|skip_connect~0|"}, "node groups"),
    ({"space": "resnet"}, "allowed: darts, nb201, or .*fbnet, mbv3"),
    ({"space": "fbnet", "ops": "k3_e1"}, "expected a list of operation names"),
    ({"space": "fbnet", "ops": ["k3_e1"], "extra": 1}, "unknown field"),
    ({"space": "nb201"}, "missing field"),
    ({"space": "fbnet", "ops": ["k3_e1"], "format_version": 99}, "format_version"),
])
def test_validation_names_field_and_allowed_values(bad, match):
    with pytest.raises(GenotypeError, match=match):
        genotype_from_dict(bad)


def test_a_chain_genotype_is_checked_by_its_space():
    from hwnas.spaces import make_space

    genotype = genotype_from_dict({"space": "fbnet", "ops": ["k3_e1", "k7_e6"] + ["skip"] * 20})
    with pytest.raises(GenotypeError, match=r"ops\[1\]: 'k7_e6' is not a candidate of layer stage2.1; its candidates: k3_e1"):
        make_space("fbnet").check_genotype(genotype)
    with pytest.raises(GenotypeError, match="has 22 searchable layers, the genotype lists 2"):
        make_space("fbnet").check_genotype(genotype_from_dict({"space": "fbnet", "ops": ["k3_e1", "k3_e1"]}))


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="published"):
        load_genotype(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(GenotypeError, match="not valid JSON"):
        load_genotype(tmp_path / "bad.json")


def test_published_genotypes_are_registered_with_their_source_and_parameters():
    from hwnas.core.counting import count_params
    from hwnas.spaces.genotypes import list_genotypes, published
    from hwnas.spaces import list_spaces, make_space

    assert list_genotypes("fbnet") == ["fbnet_a", "fbnet_b", "fbnet_c"]
    assert list_genotypes("darts") == ["darts_v1", "darts_v2", "darts"]
    assert "mbv3" in list_spaces()
    for name in list_genotypes():
        entry = published(name)
        assert entry.source and load_genotype(name) == entry.genotype
        space = make_space(entry.genotype.space, **dict(entry.network))
        assert count_params(space.build(entry.genotype)) == entry.params, name
    with pytest.raises(KeyError, match="published: darts_v1"):
        published("darts_v3")


def test_fbnet_published_have_22_layers():
    for name in ("fbnet_a", "fbnet_b", "fbnet_c"):
        assert isinstance(PUBLISHED[name], LayerGenotype) and len(PUBLISHED[name].ops) == 22
