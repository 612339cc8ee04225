import json

import onnxruntime as ort
import pytest
import yaml

from hwnas.device.agent.session import ProviderMissing, memory_location, session_options
from hwnas.device.spec import (BUILTIN, DEVICES_DIR, DeviceSpec, DeviceUnavailableError, load_device_yaml,
                               resolve_device)


def test_shipped_names_resolve():
    cpu = resolve_device("cpu")
    assert (cpu.id, cpu.provider, cpu.intra_op_threads, cpu.inter_op_threads) == ("cpu", "CPUExecutionProvider", 1, 1)
    assert (cpu.graph_optimization, cpu.batch_size) == ("all", 1)
    every_core = resolve_device("cpu-all")
    assert (every_core.id, every_core.intra_op_threads) == ("cpu-all", 0)
    cuda0 = resolve_device("cuda0")
    assert cuda0.provider == "CUDAExecutionProvider" and dict(cuda0.provider_options) == {"device_id": 0}


@pytest.mark.parametrize("text", ["cuda:1", "cuda1"])
def test_cuda_n(text):
    spec = resolve_device(text)
    assert spec.id == "cuda1" and spec.provider == "CUDAExecutionProvider"
    assert spec.settings()["provider_options"] == {"device_id": 1}
    assert memory_location(spec.settings()) == ("cuda", 1)
    assert resolve_device("cuda:0") == resolve_device("cuda0")


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_shipped_yaml_matches_builtin(name):
    path = DEVICES_DIR / f"{name}.yaml"
    assert load_device_yaml(path) == resolve_device(name)
    assert resolve_device(str(path)) == resolve_device(name)


def test_yaml_path(tmp_path):
    path = tmp_path / "laptop.yaml"
    path.write_text("id: my-laptop\nname: My Laptop\nprovider: CPUExecutionProvider\nintra_op_threads: 4\n"
                    "graph_optimization: extended\nbatch_size: 8\n")
    spec = resolve_device(path)
    assert (spec.id, spec.name, spec.intra_op_threads, spec.batch_size) == ("my-laptop", "My Laptop", 4, 8)
    assert spec.inter_op_threads == 1 and dict(spec.provider_options) == {}
    assert resolve_device(str(path)) == spec
    # Without `id:` the id is the name's slug; a bare name is looked up in devices_dir.
    path.write_text("name: \"My Laptop #2\"\nprovider: CPUExecutionProvider\n")
    assert resolve_device(path).id == "my-laptop-2"
    assert resolve_device("laptop", devices_dir=tmp_path) == resolve_device(path)


def test_missing_yaml(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        resolve_device(str(tmp_path / "nope.yaml"))


@pytest.mark.parametrize("field, value, words", [
    ("batch_size", 0, ">= 1"),
    ("intra_op_threads", -1, ">= 0"),
    ("inter_op_threads", "2", ">= 0"),
    ("graph_optimization", "max", "disable, basic, extended, all"),
    ("threads", 4, "allowed:"),
    ("provider_options", [1, 2], "mapping"),
    ("id", "../up", "file-system-safe"),
])
def test_bad_yaml_field(tmp_path, field, value, words):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"name": "bad", "provider": "CPUExecutionProvider", field: value}))
    with pytest.raises(ValueError) as info:
        resolve_device(path)
    assert field in str(info.value) and words in str(info.value) and "bad.yaml" in str(info.value)


def test_unknown_name():
    with pytest.raises(ValueError, match=r"unknown device 'tpu'.*cpu, cpu-all, cuda0.*cuda:N.*YAML"):
        resolve_device("tpu")


def test_cuda_unavailable_says_what_to_install():
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has the CUDA provider")
    with pytest.raises(DeviceUnavailableError, match="onnxruntime-gpu") as info:
        DeviceSpec("x", "CUDAExecutionProvider", {"device_id": 0}).check_available()
    assert "CPUExecutionProvider" in str(info.value)  # lists what is available
    assert isinstance(info.value, RuntimeError)


def test_session_that_fell_back_to_cpu_is_an_error():
    class FellBack:  # what ONNX Runtime gives when CUDA is listed but fails to load
        def get_providers(self):
            return ["CPUExecutionProvider"]

    import onnxruntime

    class FakeOrt:  # lists CUDA, then starts the session on the CPU
        @staticmethod
        def get_available_providers():
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]

        @staticmethod
        def InferenceSession(*args, **kwargs):
            return FellBack()

    import hwnas.device.agent.session as session_module

    real = onnxruntime.InferenceSession, onnxruntime.get_available_providers
    try:
        onnxruntime.InferenceSession, onnxruntime.get_available_providers = (FakeOrt.InferenceSession,
                                                                              FakeOrt.get_available_providers)
        with pytest.raises(ProviderMissing, match="could not start CUDAExecutionProvider"):
            session_module.open_session(b"", resolve_device("cuda0").settings())
    finally:
        onnxruntime.InferenceSession, onnxruntime.get_available_providers = real


def test_cpu_available_and_session_options():
    spec = resolve_device("cpu")
    spec.check_available()
    options = session_options(spec.settings())
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert session_options(resolve_device("cpu-all").settings()).intra_op_num_threads == 0


@pytest.mark.parametrize("name", ["cpu", "cuda:2"])
def test_dict_round_trip_hash_and_id(name):
    spec = resolve_device(name)
    d = json.loads(json.dumps(spec.to_dict()))
    again = DeviceSpec.from_dict(d)
    assert again == spec and hash(again) == hash(spec) and again.id == spec.id
    assert resolve_device(name).id == spec.id  # stable
    assert len({spec, again}) == 1
    # Options given as a mapping or as pairs, in any order, make the same spec.
    a = DeviceSpec("g", "CUDAExecutionProvider", {"device_id": 1, "arena_extend_strategy": "kSameAsRequested"})
    b = DeviceSpec("g", "CUDAExecutionProvider", (("arena_extend_strategy", "kSameAsRequested"), ("device_id", 1)))
    assert a == b and hash(a) == hash(b)


def test_constructor_validates():
    with pytest.raises(ValueError, match="batch_size"):
        DeviceSpec("x", "CPUExecutionProvider", batch_size=0)
    with pytest.raises(ValueError, match="provider"):
        DeviceSpec("x", "CPU")


def test_runner_and_python_say_how_to_reach_not_what_the_device_is(tmp_path):
    path = tmp_path / "pi.yaml"
    path.write_text("name: pi4\nprovider: CPUExecutionProvider\nrunner: ssh -p 2222 pi@raspberrypi\n"
                    "python: /usr/bin/python3.9\n")
    spec = resolve_device(path)
    assert spec.remote and spec.reach() == {"runner": "ssh -p 2222 pi@raspberrypi", "python": "/usr/bin/python3.9"}
    plain = DeviceSpec.from_dict(spec.to_dict())  # what a table records: no runner, no python
    assert not plain.remote and plain.to_dict() == spec.to_dict() and "runner" not in spec.settings()
    assert DeviceSpec.from_dict({**spec.to_dict(), "python": "python3"}).remote


@pytest.mark.parametrize("field, value, words", [("runner", "", "non-empty"), ("runner", "ssh 'unclosed", "command line"),
                                                 ("python", 3, "non-empty")])
def test_bad_runner_fields(tmp_path, field, value, words):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"name": "bad", "provider": "CPUExecutionProvider", field: value}))
    with pytest.raises(ValueError, match=words):
        resolve_device(path)


def test_a_clobbered_onnxruntime_and_a_cuda_clash_are_named():
    """Two ONNX Runtime builds installed over each other (they share one package folder) leave
    the GPU provider missing: the hint says to remove both first. PyTorch and onnxruntime-gpu made
    for different CUDA majors cannot share a process: one line says so."""
    import pytest

    from hwnas.device.spec import DeviceSpec, DeviceUnavailableError, cuda_mismatch

    gpu = DeviceSpec.from_dict({"name": "g", "provider": "CUDAExecutionProvider"})
    with pytest.raises(DeviceUnavailableError, match="pip uninstall -y onnxruntime onnxruntime-gpu, then install"):
        gpu.check_available(["CPUExecutionProvider"], builds=["onnxruntime", "onnxruntime-gpu"])
    with pytest.raises(DeviceUnavailableError, match="pip uninstall -y onnxruntime, then pip install onnxruntime-gpu"):
        gpu.check_available(["CPUExecutionProvider"], builds=["onnxruntime"])
    gpu.check_available(["CUDAExecutionProvider", "CPUExecutionProvider"], builds=["onnxruntime-gpu"])
    assert "CUDA 12.4" in cuda_mismatch("12.4", "11.8") and cuda_mismatch("12.4", "12.2") is None
    assert cuda_mismatch(None, "12.2") is None and cuda_mismatch("13.0", None) is None


def test_a_gpu_table_describes_only_the_same_gpu_build_and_host():
    from hwnas.device.agent.host import ORT_BUILDS, fingerprint, onnxruntime_builds

    assert set(onnxruntime_builds()["packages"]) <= ORT_BUILDS and onnxruntime_builds()["packages"]  # this one's
    facts = {"cpu": "AMD EPYC", "onnxruntime": "1.32.0", "onnxruntime_builds": {"cuda": "12.4"},
             "gpu": {"name": "NVIDIA H100", "driver": "550.54"}}
    recorded = fingerprint(facts, gpu=True)
    assert recorded == {"gpu": "NVIDIA H100", "driver": "550.54", "cuda": "12.4", "onnxruntime": "1.32.0",
                        "cpu": "AMD EPYC"}
    assert fingerprint({**facts, "onnxruntime_builds": {"cuda": "11.8"}}, gpu=True) != recorded
    assert fingerprint({**facts, "gpu": None}, gpu=True) is None  # no GPU named: describes nothing
