"""Real targets for the agent: a Python holding only NumPy and ONNX Runtime, and an OpenSSH
server on 127.0.0.1 with throwaway keys, started and stopped by the tests."""

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from hwnas.device import DeviceSpec

def cpu_device(**reach) -> DeviceSpec:
    return DeviceSpec.from_dict({"name": "cpu", "provider": "CPUExecutionProvider", **reach})


@pytest.fixture(scope="session")
def bare_python(tmp_path_factory) -> str:
    """A virtual environment without pip or hwnas whose packages are NumPy and ONNX Runtime alone
    (this interpreter's copies, linked): the agent must run there."""
    import numpy
    import onnxruntime

    root = tmp_path_factory.mktemp("bare-venv")
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    here = Path(sysconfig.get_paths()["purelib"])
    for module in (numpy, onnxruntime):
        package = Path(module.__file__).parent
        for path in [package, *package.parent.glob(f"{package.name}.libs"), *package.parent.glob(f"{package.name}-*")]:
            os.symlink(path, site / path.name)
    check = subprocess.run([str(python), "-c", "import numpy, onnxruntime\ntry:\n import torch\nexcept ImportError:\n"
                            " print('bare')"], capture_output=True, text=True)
    assert check.stdout.strip() == "bare", check.stderr  # NumPy and ONNX Runtime import, PyTorch does not
    assert here != site
    return str(python)


@pytest.fixture(scope="session")
def ssh_runner(tmp_path_factory) -> str:
    """``ssh ... 127.0.0.1``: a runner into a real sshd on a free loopback port (stopped after the tests)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    from loopback_sshd import Unavailable, loopback_sshd

    try:
        with loopback_sshd(tmp_path_factory.mktemp("sshd")) as runner:
            yield runner
    except Unavailable as exc:
        pytest.skip(f"{exc} (.ci/run installs openssh-server and openssh-client)")
