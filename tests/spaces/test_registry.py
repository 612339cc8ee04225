"""The space registry: settings dataclasses generate the command-line options, the table file
names and the suggested profile commands."""

import shlex
from dataclasses import fields

import pytest

from hwnas.cli.common import network_options
from hwnas.cli.parser import build_parser
from hwnas.spaces.settings import SPACE_SETTINGS, network_flags
from hwnas.spaces import DartsSpace, config_slug, list_spaces, make_space, profile_command, space_class
from hwnas.table import SHIPPED_TABLES


def test_every_builtin_space_has_its_settings_and_one_registry_line():
    assert list_spaces() == ["darts", "nb201", "fbnet", "mbv3"] == list(SPACE_SETTINGS)
    for name in list_spaces():
        cls = space_class(name)
        config = cls().config()
        assert cls.name == name and config.pop("space") == name
        assert config == {f.name: f.default for f in fields(cls.Config)}  # the defaults are the settings' own


@pytest.mark.parametrize("name,options", [("darts", {}), ("darts", dict(input_size=8, in_channels=1)),
                                          ("nb201", {}), ("nb201", dict(input_size=8, in_channels=1)),
                                          ("fbnet", {}), ("fbnet", dict(input_size=8, in_channels=1, num_classes=10)),
                                          ("mbv3", {}), ("mbv3", dict(input_size=8, in_channels=1))])
def test_file_names_are_those_of_the_shipped_tables(name, options):
    path = SHIPPED_TABLES / "cpu" / f"{config_slug(make_space(name, **options))}.csv"
    assert path.is_file(), path


def test_options_that_do_not_change_latency_stay_out_of_file_names():
    assert config_slug(make_space("darts", auxiliary=True)) == config_slug(make_space("darts"))
    assert config_slug(make_space("darts", variant="imagenet")) == "darts-c36-l20-s32-in3-n10-imagenet"
    assert config_slug(DartsSpace(stem_multiplier=2)).endswith("-m2")


@pytest.mark.parametrize("name,options", [("darts", dict(init_channels=8, layers=5, variant="imagenet")),
                                          ("nb201", dict(layers=2, input_size=8, in_channels=1)),
                                          ("fbnet", dict(input_size=64, head_channels=32))])
def test_the_profile_command_rebuilds_the_same_configuration(name, options, tmp_path):
    space = make_space(name, **options)
    command = profile_command("devices/my board.yaml", space, tmp_path / "my tables", force=True)
    argv = shlex.split(command)
    assert argv[:2] == ["hwnas", "profile"]
    args = build_parser().parse_args(argv[1:])
    assert args.device == "devices/my board.yaml" and args.tables_dir == str(tmp_path / "my tables") and args.force
    assert make_space(args.space, **network_options(args)).config() == space.config()


def test_command_line_options_come_from_the_settings():
    flags = {f.name: f for f in network_flags()}
    assert set(flags) == {"init_channels", "layers", "input_size", "in_channels", "num_classes", "auxiliary",
                          "variant", "head_channels"}
    assert "darts: cells (20)" in flags["layers"].help and "nb201: cells per stage (5)" in flags["layers"].help
    assert flags["variant"].choices == ["cifar", "imagenet"] and flags["auxiliary"].kind is bool
    assert make_space("nb201", layers=2).config()["cells_per_stage"] == 2


@pytest.mark.parametrize("call,match", [
    (lambda: make_space("fbnet", layers=3), r"--layers does not apply to the fbnet space \(its options: --input-size"),
    (lambda: make_space("mobilenet"), "unknown search space 'mobilenet'; choose one of darts, nb201, fbnet"),
    (lambda: DartsSpace(channels=3), "unknown option\\(s\\) channels of the darts space"),
    (lambda: make_space("darts", init_channels=0), "init-channels must be a positive integer, got 0"),
    (lambda: make_space("darts", init_channels=7), "init-channels must be even"),
    (lambda: make_space("darts", variant="tiny"), "variant must be one of cifar, imagenet"),
    (lambda: make_space("nb201", layers=2.5), "layers must be a positive integer, got 2.5"),
])
def test_bad_settings_are_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_a_python_space_registers_by_name_but_not_over_a_builtin():
    from hwnas.spaces import register_space
    from hwnas.spaces.fbnet import FBNetSpace
    from hwnas.spaces.registry import _REGISTERED

    class Narrow(FBNetSpace):
        name = "narrow_fbnet"

    try:
        assert register_space(Narrow) is Narrow and "narrow_fbnet" in list_spaces()
        assert isinstance(make_space("narrow_fbnet", input_size=8), Narrow)
        Narrow.name = "darts"
        with pytest.raises(ValueError, match="built-in space's name"):
            register_space(Narrow)
    finally:
        _REGISTERED.pop("narrow_fbnet", None)
