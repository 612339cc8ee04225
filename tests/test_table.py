import numpy as np
import pandas as pd
import pytest

import hwnas.profile.build as tablebuild
from hwnas.device.spec import resolve_device
from hwnas.spaces.genotypes import NB201Genotype
from hwnas.table import CorruptTableError, LatencyTable, MissingRowsError, load_table_for, table_path
from hwnas.spaces import make_space

TINY = dict(init_channels=4, layers=1, input_size=8)


def test_round_trip_and_prediction_is_sum_of_rows(tiny_table):
    space, table, tables = tiny_table
    loaded = load_table_for("cpu", space, tables_dir=tables)
    pd.testing.assert_frame_equal(loaded.rows.reset_index(drop=True), table.rows.reset_index(drop=True),
                                  check_exact=False, rtol=1e-5)
    g = NB201Genotype("|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|none~0|none~1|avg_pool_3x3~2|")
    rows = loaded.rows.set_index("key")["latency_ms"]
    c1, c2, c3 = 4, 8, 16
    by_hand = (rows["nb201.stem|c3-4|s1|8x8"] + rows["nb201.reduction|c4-8|s2|8x8"]
               + rows["nb201.reduction|c8-16|s2|4x4"] + rows["nb201.head|c16-10|s1|2x2"])
    # live edges: 0->1 conv, 0->2 skip (free), 1->2 conv, 2->3 pool; node 2 sums two inputs; the
    # two convolutions read different nodes, so each runs its own ReLU
    for c, size in ((c1, 8), (c2, 4), (c3, 2)):
        shape = f"c{c}-{c}|s1|{size}x{size}"
        by_hand += (2 * rows[f"nb201.conv_3x3|{shape}"] + 2 * rows[f"nb201.relu|{shape}"] + rows[f"add|{shape}|n2"]
                    + rows[f"avg_pool_3x3|{shape}"])
    assert loaded.costs().of(g) == pytest.approx(loaded.overhead_ms + by_hand)
    x = np.stack([space.encode(g), space.encode(space.sample(np.random.default_rng(0)))])
    many = loaded.costs().many(x)
    assert many[0] == pytest.approx(loaded.costs().of(g))


def test_missing_rows_error_names_rows_and_command(tiny_table):
    space, table, tables = tiny_table
    partial = LatencyTable(table.device_id, space, table.rows[~table.rows["op"].eq("nb201.conv_3x3")], table.meta)
    g = NB201Genotype.from_ops(["nor_conv_3x3"] * 6)
    with pytest.raises(MissingRowsError, match=r"lacks 3 row\(s\): nb201.conv_3x3\|c4-4.*hwnas profile --device cpu "
                                               r"--space nb201 --init-channels 4 --layers 1"):
        partial.costs().of(g)


def test_no_table_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="hwnas profile --device cpu --space darts"):
        load_table_for("cpu", make_space("darts", init_channels=6), tables_dir=tmp_path)


@pytest.mark.parametrize("edit, words", [
    (lambda h: {**h, "cpu": "Some Other CPU"}, "Some Other CPU"),
    # the same name, but without AVX-512: machines that all call themselves alike can differ here
    (lambda h: {**h, "flags": [f for f in h["flags"] if not f.startswith("avx512")] + ["sse4_2"]}, "sse4_2"),
    # an earlier hwnas recorded no instruction sets: such a table cannot be said to describe this machine
    (lambda h: {k: v for k, v in h.items() if k != "flags"}, "instruction sets not recorded"),
])
def test_a_table_from_another_machine_warns_with_the_profile_command(tiny_table, tmp_path, caplog, edit, words):
    from hwnas.device import open_target

    space, table, tables = tiny_table
    assert load_table_for("cpu", space, tables_dir=tables).describes(open_target("cpu"))
    other = LatencyTable.load(table_path("cpu", space, tables))
    other.meta["host"] = edit(other.meta["host"])
    if other.meta["host"] == table.meta["host"]:
        pytest.skip("this CPU has no AVX-512 to take away")
    other.save(table_path("cpu", space, tmp_path))
    with caplog.at_level("WARNING", logger="hwnas.table"):
        loaded = load_table_for("cpu", space, tables_dir=tmp_path)
    assert not loaded.describes(open_target("cpu"))
    assert words in caplog.text and "hwnas profile --device cpu --space nb201" in caplog.text


def _corrupt_copy(tiny_table, tmp_path, edit):
    space, _, tables = tiny_table
    src = table_path("cpu", space, tables)
    dst = table_path("cpu", space, tmp_path)
    dst.parent.mkdir(parents=True)
    dst.with_suffix(".json").write_text(src.with_suffix(".json").read_text())
    dst.write_text(edit(src.read_text()))
    return space, dst


@pytest.mark.parametrize("value", ["nan", "-5", "inf", "abc", ""])
def test_a_corrupt_latency_is_refused_with_the_file_and_the_fix(tiny_table, tmp_path, value):
    def edit(text):
        lines = text.splitlines()
        cells = lines[3].split(",")
        cells[7] = value  # latency_ms
        lines[3] = ",".join(cells)
        return "\n".join(lines) + "\n"

    space, path = _corrupt_copy(tiny_table, tmp_path, edit)
    before = path.read_text()
    with pytest.raises(CorruptTableError, match=rf"{path}.*line 4.*Rebuild it with: hwnas profile --device cpu "
                                                r"--space nb201 .*--tables-dir .* --force"):
        load_table_for("cpu", space, tables_dir=tmp_path)
    assert path.read_text() == before  # nothing rewritten


def test_a_table_cut_mid_row_is_refused_and_profile_does_not_resume_over_it(tiny_table, tmp_path):
    def cut(text):  # five whole lines, then half of the sixth: its latency is gone
        lines = text.splitlines()
        return "\n".join(lines[:5] + [",".join(lines[5].split(",")[:6])]) + "\n"

    space, path = _corrupt_copy(tiny_table, tmp_path, cut)
    with pytest.raises(CorruptTableError, match="missing"):
        load_table_for("cpu", space, tables_dir=tmp_path)
    with pytest.raises(CorruptTableError, match="--force"):
        tablebuild.build_table(space, resolve_device("cpu"), tables_dir=tmp_path, repeats=5)


def test_a_table_that_claims_completeness_but_lacks_rows_is_refused(tiny_table, tmp_path):
    space, path = _corrupt_copy(tiny_table, tmp_path, lambda text: "\n".join(text.splitlines()[:-3]) + "\n")
    with pytest.raises(MissingRowsError, match=r"lacks 3 row\(s\).*--tables-dir"):
        load_table_for("cpu", space, tables_dir=tmp_path)


def test_a_row_whose_key_does_not_match_its_columns_is_refused(tiny_table, tmp_path):
    space, path = _corrupt_copy(tiny_table, tmp_path, lambda text: text.replace("|c4-4|s1|8x8", "|c4-4|s1|9x9", 1))
    with pytest.raises(CorruptTableError, match="does not match its columns"):
        load_table_for("cpu", space, tables_dir=tmp_path)


def test_the_printed_profile_command_names_the_device_and_folder_as_given(tmp_path):
    yaml = tmp_path / "my board.yaml"
    from hwnas.device.spec import DEVICES_DIR

    text = (DEVICES_DIR / "cpu.yaml").read_text()
    yaml.write_text(text.replace("id: cpu", "id: myboard").replace("name: cpu", "name: my-board"))
    with pytest.raises(FileNotFoundError) as info:
        load_table_for(str(yaml), make_space("nb201", **TINY), tables_dir=tmp_path / "t")
    command = str(info.value).split("Build it with: ")[1]
    assert command.startswith(f"hwnas profile --device '{yaml}' --space nb201")
    assert command.endswith(f"--tables-dir {tmp_path / 't'}")
