"""The demo stops cleanly and says how to continue; --resume continues from its files."""

from hwnas.runs import Interrupted


def test_a_stopped_demo_says_how_to_continue_and_resumes_its_search(tmp_path, monkeypatch, capsys):
    import hwnas.search.searcher as loop
    from hwnas.cli import main

    calls = []

    def stopped(self, resume=False, progress=None, on_epoch=None):
        calls.append(resume)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.save_checkpoint()
        raise Interrupted("interrupted at epoch 1, step 3; checkpoint saved")

    monkeypatch.setattr(loop.Searcher, "run", stopped)
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"continue it with: hwnas demo --resume --out {out}" in err[0]
    assert (out / "search" / "checkpoint.pt").is_file()
    assert main(["demo", "--out", str(out), "--resume"]) == 130
    assert calls == [False, True]  # the second run resumed the search from its checkpoint
