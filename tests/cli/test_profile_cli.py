"""Where ``hwnas profile`` and ``hwnas validate`` write without ``--tables-dir``: the user's
tables folder, which is then read first; the tables shipped inside the package stay as shipped."""

import shutil

import pytest

import hwnas.table
from hwnas.cli import main
from hwnas.table import load_table_for, table_path, user_tables_dir

TINY_FLAGS = ["--space", "nb201", "--init-channels", "4", "--layers", "1", "--input-size", "8"]


@pytest.fixture
def own_folders(tmp_path, monkeypatch):
    """An empty user folder and a shipped folder of our own."""
    monkeypatch.setenv("HWNAS_TABLES", str(tmp_path / "user"))
    monkeypatch.setattr(hwnas.table, "SHIPPED_TABLES", tmp_path / "shipped")
    return tmp_path / "user", tmp_path / "shipped"


def test_profile_writes_the_users_tables_which_are_read_first(own_folders, tiny_table, capsys):
    user, shipped = own_folders
    space, _, tables = tiny_table
    shutil.copytree(tables, shipped)  # the same configuration ships with hwnas
    assert table_path("cpu", space) == shipped / "cpu" / "nb201-c4-l1-s8-in3-n10.csv"
    assert main(["profile", "--device", "cpu", *TINY_FLAGS, "--repeats", "5", "--warmup", "1"]) == 0
    assert f"table: {user / 'cpu' / 'nb201-c4-l1-s8-in3-n10.csv'}" in capsys.readouterr().out
    assert user_tables_dir() == user and table_path("cpu", space) == user / "cpu" / "nb201-c4-l1-s8-in3-n10.csv"
    assert load_table_for("cpu", space).meta["complete"]


def test_validating_a_shipped_table_saves_a_calibrated_copy_and_leaves_the_shipped_one(own_folders, tiny_table):
    user, shipped = own_folders
    space, _, tables = tiny_table
    shutil.copytree(tables, shipped)
    files = sorted((shipped / "cpu").iterdir())
    before = [f.read_bytes() for f in files]
    assert main(["validate", "--device", "cpu", *TINY_FLAGS, "-n", "15"]) == 0
    assert [f.read_bytes() for f in files] == before
    copy = load_table_for("cpu", space)
    assert copy.meta["validation"]["n"] >= 15 and table_path("cpu", space).is_relative_to(user)


def test_no_table_anywhere_names_both_places_and_the_command(own_folders, capsys):
    user, shipped = own_folders
    genotype = '{"space": "nb201", "arch": "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|none~0|avg_pool_3x3~1|nor_conv_1x1~2|"}'
    assert main(["info", genotype, "--layers", "1", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    name = "nb201-c16-l1-s32-in3-n10.csv"
    assert f"looked in {user / 'cpu' / name} and {shipped / 'cpu' / name}" in err
    assert "Build it with: hwnas profile --device cpu --space nb201" in err
