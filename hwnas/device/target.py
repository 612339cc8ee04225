"""Where a device's networks run, and the one measurement every stage calls.

:func:`measure` times models (ONNX bytes with input shapes) in interleaved rounds on the
device's target: in this process, or through the agent (see :mod:`hwnas.device.runner`) when
the device names a ``runner`` or a ``python``. Profiling (pieces), validation (whole networks),
the search's measured budget, ``export --measure`` and the demo all measure through it, so
every number hwnas states about a device comes from the same protocol on the same target.
"""

from __future__ import annotations

import atexit
import collections
import logging
import select
import subprocess
import threading
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence

from hwnas.device.agent import protocol
from hwnas.device.agent.host import fingerprint, host_facts
from hwnas.device.agent.timing import Interleaved
from hwnas.device.onnx import Model
from hwnas.device.runner import TargetError, agent_command, describe, explain_exit, send_agent
from hwnas.device.spec import DeviceSpec, resolve_device

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
# Where the line naming the runner goes before its first use (the command line shows it on stderr).
announce: Callable[[str], None] = log.info
HELLO_TIMEOUT_S = 120.0  # a runner that has not started the agent by then is not going to


class Target:
    """The machine a device's networks run on; :meth:`measure` times models there."""

    def __init__(self, spec: DeviceSpec) -> None:
        self.spec = spec
        self._facts: Optional[Dict[str, Any]] = None

    @property
    def where(self) -> str:
        return "this machine"

    def facts(self) -> Dict[str, Any]:
        """The target's host facts (see :func:`hwnas.device.agent.host.host_facts`)."""
        if self._facts is None:
            self._facts = self._hello()
        return self._facts

    def _hello(self) -> Dict[str, Any]:
        return host_facts(self._gpu_id())

    def _gpu_id(self) -> Optional[int]:
        options = dict(self.spec.provider_options)
        return int(options.get("device_id", 0)) if self.spec.provider != "CPUExecutionProvider" else None

    def check_available(self) -> None:
        """Raise :class:`~hwnas.device.spec.DeviceUnavailableError` unless the target has the provider."""
        facts = self.facts()
        self.spec.check_available(facts["providers"], where=f"the onnxruntime {facts['onnxruntime']} on {self.where}")

    def fingerprint(self) -> Optional[Dict[str, Any]]:
        return fingerprint(self.facts(), gpu=self._gpu_id() is not None)

    def measure(self, models: Sequence[Model], repeats: int = 40, rounds: int = 4, warmup: int = 3,
                progress: Optional[Progress] = None) -> Interleaved:
        """Time ``models`` in interleaved rounds (see :func:`hwnas.device.agent.timing.time_interleaved`)."""
        from hwnas.device.agent.session import ProviderMissing, measure

        self.check_available()
        try:
            return measure(self.spec.settings(), [m.onnx for m in models], [m.shapes for m in models],
                           repeats=repeats, rounds=rounds, warmup=warmup, progress=progress)
        except ProviderMissing as exc:
            raise TargetError(f"device {self.spec.name!r}: {exc}") from None

    def close(self) -> None:
        pass


class AgentTarget(Target):
    """A target reached through the agent: another Python here, or a runner (SSH and the like)."""

    def __init__(self, spec: DeviceSpec) -> None:
        super().__init__(spec)
        self._proc: Optional[subprocess.Popen] = None
        self._stderr: Deque[str] = collections.deque(maxlen=40)

    @property
    def where(self) -> str:
        return f"the target reached through {describe(self.spec)}"

    def _start(self) -> subprocess.Popen:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        command = agent_command(self.spec)
        shown = self.spec.runner or self.spec.python
        announce(f"reaching device {self.spec.id} through `{shown}`" + (
            f" (python: {self.spec.python or 'python3'})" if self.spec.runner else ""))
        try:
            # its own session: a Ctrl-C reaches hwnas, which then ends the agent by closing its input
            proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True)
        except OSError as exc:
            raise explain_exit(self.spec, 127, [f"{command[0]}: {exc.strerror or exc}"]) from None
        threading.Thread(target=self._drain, args=(proc.stderr,), daemon=True).start()
        self._proc = proc
        try:
            send_agent(proc.stdin)
        except OSError:
            pass  # the agent is already gone: reading its answer says why
        return proc

    def _drain(self, stream) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            self._stderr.append(line)
            log.debug("agent: %s", line)

    def _fail(self, during: str) -> TargetError:
        proc = self._proc
        if proc is None:
            return TargetError(f"the agent for device {self.spec.id} is not running")
        try:
            code = proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        self._proc = None
        if during == "start":
            return explain_exit(self.spec, code, list(self._stderr))
        return TargetError(f"the connection to the target dropped while {during} (exit status {code}"
                           + (f": {list(self._stderr)[-1]}" if self._stderr else "") + f"; reached through "
                           f"{describe(self.spec)}). What was measured before is kept: run the command again "
                           f"to continue")

    def _request(self, header: Dict[str, Any], blobs: Sequence[bytes] = (), during: str = "measuring",
                 progress: Optional[Progress] = None, timeout: Optional[float] = None) -> Dict[str, Any]:
        proc = self._start()
        try:
            protocol.write_frame(proc.stdin, header, blobs)
        except (OSError, ValueError):
            raise self._fail("start" if self._facts is None else during) from None
        while True:
            if timeout is not None and not select.select([proc.stdout], [], [], timeout)[0]:
                proc.kill()
                raise TargetError(f"the target did not answer within {timeout:.0f} s through {describe(self.spec)}"
                                  + (f" (last: {list(self._stderr)[-1]})" if self._stderr else ""))
            try:
                reply, _ = protocol.read_frame(proc.stdout)
            except (EOFError, OSError, ValueError):
                raise self._fail("start" if self._facts is None else during) from None
            if reply.get("kind") == "progress":
                if progress:
                    progress(int(reply["done"]), int(reply["total"]))
                continue
            if reply.get("kind") == "error":
                raise TargetError(f"the agent on {self.where} failed: {reply.get('error')}")
            return reply

    def _hello(self) -> Dict[str, Any]:
        reply = self._request({"kind": "hello", "gpu_id": self._gpu_id()}, during="starting", timeout=HELLO_TIMEOUT_S)
        if reply.get("version") != protocol.VERSION:
            raise TargetError(f"the agent on {self.where} speaks protocol {reply.get('version')}, this hwnas "
                              f"{protocol.VERSION}")
        return reply["host"]

    def measure(self, models: Sequence[Model], repeats: int = 40, rounds: int = 4, warmup: int = 3,
                progress: Optional[Progress] = None) -> Interleaved:
        self.check_available()
        reply = self._request({"kind": "measure", "settings": self.spec.settings(),
                               "shapes": [[list(s) for s in m.shapes] for m in models], "repeats": repeats,
                               "rounds": rounds, "warmup": warmup}, [m.onnx for m in models], progress=progress)
        return Interleaved.from_dict(reply)

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            proc.stdin.close()  # the agent ends at the end of its input
            proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()


_OPEN: Dict[DeviceSpec, Target] = {}


def open_target(device: DeviceSpec | str) -> Target:
    """The target of ``device``, started once per process and closed at exit."""
    spec = resolve_device(device)
    if spec not in _OPEN:
        _OPEN[spec] = AgentTarget(spec) if spec.remote else Target(spec)
    return _OPEN[spec]


@atexit.register
def close_targets() -> None:
    for target in list(_OPEN.values()):
        target.close()
    _OPEN.clear()


def measure(device: DeviceSpec | Target | str, models: Sequence[Model], repeats: int = 40, rounds: int = 4,
            warmup: int = 3, progress: Optional[Progress] = None) -> Interleaved:
    """Time ``models`` on ``device``'s target in interleaved rounds: the one way hwnas measures."""
    target = device if isinstance(device, Target) else open_target(device)
    return target.measure(models, repeats=repeats, rounds=rounds, warmup=warmup, progress=progress)


def measure_modules(device: DeviceSpec | Target | str, builders: Sequence[Callable[[], Any]],
                    input_shape: Sequence[int], repeats: int = 40, rounds: int = 4, opset: int = 17,
                    progress: Optional[Callable[[int, int, str], None]] = None) -> Interleaved:
    """Build each PyTorch module (one at a time, seeded by its index), export it at the device's
    batch size and measure them all together; ``progress(done, total, note)`` counts exports, then rounds."""
    import torch

    from hwnas.device.onnx import module_model

    target = device if isinstance(device, Target) else open_target(device)
    shape = (target.spec.batch_size, *input_shape)
    count = len(builders)
    models: List[Model] = []
    for i, build in enumerate(builders):
        torch.manual_seed(i)
        models.append(module_model(build().eval(), [shape], opset=opset))
        if progress:
            progress(i + 1, count + rounds, "exported")
    return target.measure(models, repeats=repeats, rounds=rounds,
                          progress=(lambda r, n: progress(count + r, count + n, f"round {r}/{n}")) if progress else None)
