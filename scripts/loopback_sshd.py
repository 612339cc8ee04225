"""A real OpenSSH server on 127.0.0.1 with throwaway keys, for the SSH runner's tests and benchmarks.

    python scripts/loopback_sshd.py -- COMMAND ...   # {device} in COMMAND: a device YAML reached through it

starts sshd on a free loopback port (host and user keys made for the occasion, logins by that
key only, for the current user), writes a ``cpu`` device file whose ``runner`` is ``ssh ...
user@127.0.0.1`` and whose ``python`` is this interpreter, runs COMMAND, and stops sshd.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


class Unavailable(RuntimeError):
    """No OpenSSH here, or sshd would not start."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def loopback_sshd(folder: Path) -> Iterator[str]:
    """Run sshd on 127.0.0.1 while the block runs; yields the ``ssh ...`` runner that logs in."""
    if not (os.path.exists(SSHD) and shutil.which("ssh") and shutil.which("ssh-keygen")):
        raise Unavailable("OpenSSH server or client not installed (apt-get install openssh-server openssh-client)")
    folder = Path(folder)
    for key in ("host", "user"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / key)], check=True)
    shutil.copy(folder / "user.pub", folder / "authorized_keys")
    port, user = _free_port(), getpass.getuser()
    (folder / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {folder / 'host'}\nPidFile {folder / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {folder / 'authorized_keys'}\nPasswordAuthentication no\n"
        f"KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nUsePAM no\nStrictModes no\n"
        f"PermitRootLogin prohibit-password\nAllowUsers {user}\n")
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", exist_ok=True)  # the privilege separation folder sshd insists on
    log = open(folder / "sshd.log", "w")
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(folder / "sshd_config")], stdout=subprocess.DEVNULL,
                            stderr=log)
    runner = (f"ssh -p {port} -i {folder / 'user'} -o BatchMode=yes -o StrictHostKeyChecking=no "
              f"-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR {user}@127.0.0.1")
    try:
        deadline = time.monotonic() + 10
        while subprocess.run(runner.split() + ["true"], capture_output=True, timeout=20).returncode != 0:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise Unavailable(f"sshd did not start: {(folder / 'sshd.log').read_text()[-300:]}")
            time.sleep(0.2)
        yield runner
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def main() -> int:
    if "--" not in sys.argv:
        print(__doc__, file=sys.stderr)
        return 2
    command = sys.argv[sys.argv.index("--") + 1:]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a kill still stops sshd (the finally below)
    with tempfile.TemporaryDirectory(prefix="hwnas-sshd-") as folder, loopback_sshd(Path(folder)) as runner:
        device = Path(folder) / "loopback.yaml"
        device.write_text(f"name: cpu\nprovider: CPUExecutionProvider\nrunner: {runner}\npython: {sys.executable}\n")
        print(f"sshd on 127.0.0.1; device {device}: runner `{runner}`", file=sys.stderr, flush=True)
        return subprocess.run([part.replace("{device}", str(device)) for part in command]).returncode


if __name__ == "__main__":
    sys.exit(main())
