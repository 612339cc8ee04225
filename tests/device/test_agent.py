"""The agent on real targets: another Python holding only NumPy and ONNX Runtime, and OpenSSH on
127.0.0.1. Tables profiled through them, and each way of failing to reach them, in one line."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from hwnas.device import TargetError, measure, open_target
from hwnas.device.onnx import overhead_model
from hwnas.device.runner import explain_exit
from hwnas.device.target import close_targets
from hwnas.profile.build import build_table
from hwnas.spaces import make_space
from hwnas.table import LatencyTable, table_path

from .conftest import cpu_device

TINY = dict(init_channels=4, layers=1, input_size=8, in_channels=1)


@pytest.fixture(autouse=True)
def fresh_targets():
    yield
    close_targets()  # each test starts its agents anew


def test_the_agent_runs_where_only_numpy_and_onnxruntime_are(bare_python, tmp_path, caplog):
    device = cpu_device(python=bare_python)
    with caplog.at_level("INFO", logger="hwnas.device.target"):
        facts = open_target(device).facts()
    assert f"through the Python `{bare_python}`" in caplog.text  # the way in is named before its first use
    local = open_target("cpu").fingerprint()
    assert open_target(device).fingerprint() == local  # the same machine, seen from the other Python
    space = make_space("nb201", **TINY)
    build_table(space, device, tables_dir=tmp_path, warmup=1, repeats=5)
    saved = LatencyTable.load(table_path(device.id, space, tmp_path))
    assert saved.meta["complete"] and len(saved.rows) == len(space.all_pieces())
    assert saved.meta["reach"] == {"python": bare_python} and saved.meta["host"]["flags"] == facts["flags"]
    assert (saved.rows["latency_ms"] >= 0).all() and saved.describes(open_target("cpu"))

    def stopped():  # a whole batch reaches the agent, then the export fails
        for _ in range(9):
            yield overhead_model()
        raise RuntimeError("export failed")

    with pytest.raises(RuntimeError):
        measure(device, stopped(), repeats=4)
    assert len(measure(device, [overhead_model()], repeats=4).timings) == 1  # the agent kept nothing of it


def test_measurements_through_ssh_match_their_in_process_twins(ssh_runner):
    device = cpu_device(runner=ssh_runner, python=sys.executable)
    models = [overhead_model((1, 64, 32, 32)), overhead_model()]
    remote = measure(device, models, repeats=40, rounds=4)
    assert [t.repeats for t in remote.timings] == [40, 40] and remote.load is not None
    assert remote.timings[0].latency_ms > remote.timings[1].latency_ms  # 64k elements cost more than one
    assert open_target(device).facts()["cpu"] == open_target("cpu").facts()["cpu"]


def test_a_profile_through_ssh_resumes_after_the_connection_drops(ssh_runner, tmp_path, monkeypatch):
    import hwnas.profile.build as tablebuild

    space = make_space("nb201", init_channels=16, layers=1, input_size=32, in_channels=1)
    monkeypatch.setattr(tablebuild, "CHUNK", 2)  # many small requests: the cut falls between two of them
    # the runner's connection is cut after three seconds, in the middle of the profile (about ten seconds)
    cut = cpu_device(runner=f"timeout 3 {ssh_runner}", python=sys.executable)
    with pytest.raises(TargetError, match="dropped while measuring.*rows measured before are saved: run the same "
                                          "command again"):
        build_table(space, cut, tables_dir=tmp_path, warmup=1, repeats=8000)
    path = table_path("cpu", space, tmp_path)
    partial = LatencyTable.load(path)  # what was measured before is on disk, whole
    assert not partial.meta["complete"] and 0 < len(partial.rows) < len(space.all_pieces())
    close_targets()
    table = build_table(space, cpu_device(runner=ssh_runner, python=sys.executable), tables_dir=tmp_path, warmup=1,
                        repeats=8000)
    assert table.meta["complete"] and len(table.rows) == len(space.all_pieces())
    assert set(partial.rows["key"]) <= set(table.rows["key"])
    kept = table.rows.set_index("key").loc[partial.rows["key"], "latency_ms"].to_numpy()
    assert np.allclose(kept, partial.rows["latency_ms"].to_numpy())  # resumed, not re-measured


@pytest.mark.parametrize("change, words", [
    (lambda r: re.sub(r"-p \d+", "-p 1", r), "cannot reach the target through"),
    (lambda r: re.sub(r"-i \S+", "-i /nonexistent-key -o IdentitiesOnly=yes", r), "refused authentication"),
])
def test_a_runner_that_cannot_get_in_says_so_in_one_line(ssh_runner, change, words):
    bad = change(ssh_runner)
    with pytest.raises(TargetError, match=words) as info:
        open_target(cpu_device(runner=bad, python=sys.executable)).facts()
    assert "\n" not in str(info.value) and "true` works in a shell" in str(info.value)


def test_missing_python_numpy_onnxruntime_and_provider_each_say_what_to_do(ssh_runner, bare_python, tmp_path):
    with pytest.raises(TargetError, match=r"no Python at `python9`.*set `python:`"):
        open_target(cpu_device(runner=ssh_runner, python="python9")).facts()
    empty = tmp_path / "empty-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(empty)], check=True)
    with pytest.raises(TargetError, match="lacks numpy: pip install numpy onnxruntime there"):
        open_target(cpu_device(runner=ssh_runner, python=str(empty / "bin" / "python"))).facts()
    gpu = cpu_device(runner=ssh_runner, python=bare_python)
    gpu = type(gpu).from_dict({**gpu.to_dict(), **gpu.reach(), "provider": "CUDAExecutionProvider",
                               "provider_options": {"device_id": 0}})
    from hwnas.device import DeviceUnavailableError

    with pytest.raises(DeviceUnavailableError, match="CUDAExecutionProvider, which the onnxruntime .* on the target "
                                                     "reached through the runner"):
        open_target(gpu).check_available()


def test_a_python_too_old_for_the_agent_is_named():
    line = "hwnas-agent: the target's Python 3.6 is too old: the agent needs Python 3.8 or newer"
    error = explain_exit(cpu_device(runner="ssh pi@board"), 4, ["warning: something", line])
    assert "Python 3.6 is too old" in str(error) and "ssh pi@board" in str(error)


def test_profile_command_through_a_device_file(ssh_runner, tmp_path):
    device_file = tmp_path / "loopback.yaml"
    device_file.write_text(json.dumps({"name": "loopback", "provider": "CPUExecutionProvider", "runner": ssh_runner,
                                       "python": sys.executable}))
    out = subprocess.run([sys.executable, "-m", "hwnas", "profile", "--device", str(device_file), "--space", "nb201",
                          "--init-channels", "4", "--layers", "1", "--input-size", "8", "--in-channels", "1",
                          "--repeats", "5", "--validate", "0", "--tables-dir", str(tmp_path / "t")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert f"hwnas profile: reaching device loopback through the runner `{ssh_runner}`" in out.stderr
    assert "not calibrated (--validate 0)" in out.stdout
    bad = tmp_path / "unreachable.yaml"
    bad.write_text(json.dumps({"name": "loopback", "provider": "CPUExecutionProvider",
                               "runner": re.sub(r"-p \d+", "-p 1", ssh_runner)}))
    out = subprocess.run([sys.executable, "-m", "hwnas", "profile", "--device", str(bad), "--space", "nb201",
                          "--init-channels", "4", "--layers", "1", "--input-size", "8", "--in-channels", "1",
                          "--tables-dir", str(tmp_path / "t2")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("hwnas profile: error: cannot reach the target")


def test_the_agent_imports_nothing_but_the_standard_library_numpy_and_onnxruntime():
    import ast

    from hwnas.device.runner import AGENT_DIR

    if not hasattr(sys, "stdlib_module_names"):
        pytest.skip("Python 3.10 lists its standard library")
    allowed = set(sys.stdlib_module_names) | {"numpy", "onnxruntime"}
    for path in AGENT_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}: the agent must travel alone"
