import pytest



def test_a_corrupt_search_checkpoint_is_one_line_on_resume(tmp_path, capsys):
    from hwnas.cli import main

    common = ["--runs-dir", str(tmp_path), "--name", "r", "--limit", "80", "--batch-size", "16", "--epochs", "1",
              "--init-channels", "4", "--layers", "3"]
    assert main(["search", *common]) == 0
    ckpt = tmp_path / "r" / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])  # cut short, as by a full disk or a copy that stopped
    capsys.readouterr()
    assert main(["search", "--resume", *common]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{ckpt} is not a readable torch checkpoint" in err[0]


def test_search_cli_refuses_limit_3_in_one_line(tmp_path, capsys):
    from hwnas.cli import main

    assert main(["search", "--limit", "3", "--epochs", "1", "--runs-dir", str(tmp_path), "--name", "x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "would take no step" in err[0] and "--batch-size" in err[0]
    assert not (tmp_path / "x" / "genotype.json").exists()


def test_an_unexpected_error_is_one_line_with_the_traceback_saved(monkeypatch, capsys):
    import hwnas.cli.search
    from hwnas.cli import main

    def broken(args):
        raise RuntimeError("something inside hwnas broke")

    monkeypatch.setattr(hwnas.cli.search, "cmd_search", broken)
    assert main(["search"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "RuntimeError: something inside hwnas broke" in err[0] and "bug in hwnas" in err[0]
    path = err[0].split("traceback is in ")[1].split(";")[0]
    assert "Traceback" in open(path).read()
    with pytest.raises(RuntimeError):  # --verbose shows the traceback itself
        main(["--verbose", "search"])


def test_search_resume_refuses_flags_that_change_the_run(tmp_path, capsys):
    import json

    from hwnas.cli import main

    common = ["--runs-dir", str(tmp_path), "--name", "r", "--limit", "80", "--batch-size", "16"]
    assert main(["search", "--epochs", "1", "--init-channels", "4", "--layers", "3", *common]) == 0
    before = (tmp_path / "r" / "genotype.json").read_text()
    capsys.readouterr()
    code = main(["search", "--resume", "--space", "nb201", "--latency-budget", "1ms", "--epochs", "2", *common])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "--space sets space to 'nb201' (the run has 'darts')" in err[0] and "--epochs" in err[0]
    assert "--latency-budget" in err[0]
    assert (tmp_path / "r" / "genotype.json").read_text() == before
    # the run's own settings, given again or left out, resume
    assert main(["search", "--resume", "--epochs", "1", *common]) == 0
    assert json.loads((tmp_path / "r" / "config.json").read_text())["search"]["epochs"] == 1


def test_a_full_disk_is_one_line(tmp_path, capsys, monkeypatch):
    import errno

    import hwnas.core.fileio as fileio
    from hwnas.cli import main

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fileio, "save_torch", full)
    code = main(["search", "--runs-dir", str(tmp_path), "--name", "r", "--limit", "80", "--batch-size", "16",
                 "--epochs", "1", "--init-channels", "4", "--layers", "3"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err  # the progress bar's lines, then one line of error
    assert err.strip().splitlines()[-1] == "hwnas search: error: [Errno 28] No space left on device"


@pytest.mark.parametrize("flags, limit", [([], 2000), (["--limit", "300"], 300), (["--torch-device", "cuda"], None)])
def test_a_cpu_search_of_cifar10_reads_a_subset_by_default(flags, limit):
    from hwnas.cli.parser import build_parser
    from hwnas.cli.search import _config_from_args

    args = build_parser().parse_args(["search", "--space", "nb201", "--dataset", "cifar10", *flags])
    assert _config_from_args(args).limit == limit
    digits = build_parser().parse_args(["search", "--dataset", "digits"])
    assert _config_from_args(digits).limit is None  # small data sets are read whole
