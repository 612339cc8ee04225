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
from typing import Any, Callable, Deque, Dict, Iterable, Iterator, List, Optional, Sequence

from hwnas.device.agent import protocol
from hwnas.device.agent.host import fingerprint, host_facts
from hwnas.device.agent.load import Load, sample_load
from hwnas.device.agent.timing import Interleaved
from hwnas.device.onnx import Model
from hwnas.device.precision import at_precision
from hwnas.device.runner import TargetError, agent_command, cannot_start, describe, explain_exit, last_line, send_agent
from hwnas.device.spec import DeviceSpec, DeviceUnavailableError, cuda_mismatch, resolve_device

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
# Where the line naming the runner goes before its first use (the command line shows it on stderr).
announce: Callable[[str], None] = log.info
HELLO_TIMEOUT_S = 120.0  # a runner that has not started the agent by then is not going to
IDLE_TIMEOUT_S = 1800.0  # an agent silent this long (no answer, no progress frame) is taken as lost
BATCH = 8  # models sent to (and opened on) a target at a time


class Target:
    """The machine a device's networks run on; :meth:`measure` times models there."""

    def __init__(self, spec: DeviceSpec) -> None:
        from hwnas.device.agent.session import Bench

        self.spec = spec
        self._facts: Optional[Dict[str, Any]] = None
        self._bench = Bench()

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
        """The NVIDIA GPU the device runs on (None for every other provider)."""
        from hwnas.device.agent.session import GPU_PROVIDERS, memory_location

        return memory_location(self.spec.settings())[1] if self.spec.provider in GPU_PROVIDERS else None

    def check_available(self) -> None:
        """Raise :class:`~hwnas.device.spec.DeviceUnavailableError` unless the target has the
        provider (and, for a GPU in this process, a CUDA that PyTorch's can share it with)."""
        facts = self.facts()
        builds = facts.get("onnxruntime_builds") or {}
        self.spec.check_available(facts["providers"], where=f"the onnxruntime {facts['onnxruntime']} on {self.where}",
                                  builds=builds.get("packages"))
        if self._gpu_id() is not None and not isinstance(self, AgentTarget):
            import torch

            clash = cuda_mismatch(torch.version.cuda, builds.get("cuda"))
            if clash:
                raise DeviceUnavailableError(f"device {self.spec.name!r}: {clash}")

    def fingerprint(self) -> Optional[Dict[str, Any]]:
        return fingerprint(self.facts(), gpu=self._gpu_id() is not None)

    def measure(self, models: Iterable[Model], repeats: int = 40, rounds: int = 4, warmup: int = 3,
                progress: Optional[Progress] = None) -> Interleaved:
        """Time ``models`` in interleaved rounds (see :func:`hwnas.device.agent.timing.time_interleaved`).

        ``models`` may be a generator: they are opened on the target :data:`BATCH` at a time as
        they come (a remote target is sent each batch), then timed together. Each is brought to
        the device's precision first (:func:`~hwnas.device.precision.at_precision`), here.
        """
        self.check_available()
        batch: List[Model] = []
        first = True  # the first batch empties the bench: what a failed measurement left there goes
        for model in models:
            batch.append(at_precision(model, self.spec.precision))
            if len(batch) == BATCH:
                self._add(batch, first)
                batch, first = [], False
        if batch or first:
            self._add(batch, first)
        return self._time(repeats, rounds, warmup, progress)

    def _add(self, models: Sequence[Model], first: bool) -> None:
        from hwnas.device.agent.session import PrecisionUnsupported, ProviderMissing

        try:
            self._bench.add(self.spec.settings(), [m.onnx for m in models], [m.shapes for m in models], first)
        except (ProviderMissing, PrecisionUnsupported) as exc:
            raise TargetError(f"device {self.spec.name!r}: {exc}") from None

    def _time(self, repeats: int, rounds: int, warmup: int, progress: Optional[Progress]) -> Interleaved:
        return self._bench.time(repeats=repeats, rounds=rounds, warmup=warmup, progress=progress)

    def sample_load(self, seconds: float = 0.5) -> Optional[Load]:
        """Other processes' use of the target over the next ``seconds`` (None where it does not say)."""
        return sample_load(seconds)

    def close(self) -> None:
        pass


class AgentTarget(Target):
    """A target reached through the agent: another Python here, or a runner (SSH and the like)."""

    def __init__(self, spec: DeviceSpec) -> None:
        super().__init__(spec)
        self._proc: Optional[subprocess.Popen] = None
        self._answered = False  # whether the running agent has answered once (it started)
        self._stderr: Deque[str] = collections.deque(maxlen=40)

    @property
    def where(self) -> str:
        return f"the target reached through {describe(self.spec)}"

    def _start(self) -> subprocess.Popen:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        self._stop()
        command = agent_command(self.spec)
        announce(f"reaching device {self.spec.id} through {describe(self.spec)}")
        try:
            # its own session: a Ctrl-C reaches hwnas, which then ends the agent itself
            proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True)
        except OSError as exc:
            raise cannot_start(self.spec, command[0], exc) from None
        self._stderr.clear()
        threading.Thread(target=self._drain, args=(proc.stderr,), daemon=True).start()
        self._proc, self._answered = proc, False
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
        """Why the agent stopped answering, in one line (and the agent stopped for good)."""
        proc = self._proc
        code = None
        if proc is not None:
            try:
                code = proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        started = self._answered
        self._stop()
        if not started:
            return explain_exit(self.spec, code, list(self._stderr))
        line = last_line(list(self._stderr))
        return TargetError(f"the connection to the target dropped while {during} (exit status {code}"
                           + (f": {line}" if line else "") + f"; reached through {describe(self.spec)})")

    def _request(self, header: Dict[str, Any], blobs: Sequence[bytes] = (), during: str = "measuring",
                 progress: Optional[Progress] = None, timeout: float = IDLE_TIMEOUT_S) -> Dict[str, Any]:
        proc = self._start()
        clean = False
        try:
            try:
                protocol.write_frame(proc.stdin, header, blobs)
            except (OSError, ValueError):
                raise self._fail(during) from None
            while True:
                if not select.select([proc.stdout], [], [], timeout)[0]:
                    line = last_line(list(self._stderr))
                    self._stop()
                    raise TargetError(f"the target did not answer within {timeout:.0f} s through "
                                      f"{describe(self.spec)}" + (f" (last: {line})" if line else ""))
                try:
                    reply, _ = protocol.read_frame(proc.stdout)
                except (EOFError, OSError, ValueError):
                    raise self._fail(during) from None
                self._answered = True
                if reply.get("kind") == "progress":
                    if progress:
                        progress(int(reply["done"]), int(reply["total"]))
                    continue
                clean = True
                if reply.get("kind") == "error":
                    raise TargetError(f"the agent on {self.where} failed: {reply.get('error')}")
                return reply
        finally:
            if not clean:  # interrupted mid-frame: the stream is out of step, the agent is of no more use
                self._stop()

    def _hello(self) -> Dict[str, Any]:
        reply = self._request({"kind": "hello", "gpu_id": self._gpu_id()}, during="starting", timeout=HELLO_TIMEOUT_S)
        if reply.get("version") != protocol.VERSION:
            raise TargetError(f"the agent on {self.where} speaks protocol {reply.get('version')}, this hwnas "
                              f"{protocol.VERSION}")
        return reply["host"]

    def _add(self, models: Sequence[Model], first: bool) -> None:
        self._request({"kind": "add", "settings": self.spec.settings(), "first": first,
                       "shapes": [[list(s) for s in m.shapes] for m in models]}, [m.onnx for m in models])

    def _time(self, repeats: int, rounds: int, warmup: int, progress: Optional[Progress]) -> Interleaved:
        reply = self._request({"kind": "time", "repeats": repeats, "rounds": rounds, "warmup": warmup},
                              progress=progress)
        return Interleaved.from_dict(reply)

    def sample_load(self, seconds: float = 0.5) -> Optional[Load]:
        load = self._request({"kind": "load", "seconds": seconds})["load"]
        return Load.from_dict(load) if load else None

    def _stop(self, wait_s: float = 0.0) -> None:
        """End the agent: close its input (it ends at the end of its input), then kill it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            proc.stdin.close()
            proc.wait(timeout=wait_s)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            try:
                stream.close()
            except OSError:
                pass

    def close(self) -> None:
        self._stop(wait_s=2.0)


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

    def exported() -> Iterator[Model]:
        for i, build in enumerate(builders):
            torch.manual_seed(i)
            yield module_model(build().eval(), [shape], opset=opset)
            if progress:
                progress(i + 1, count + rounds, "exported")

    return target.measure(exported(), repeats=repeats, rounds=rounds,
                          progress=(lambda r, n: progress(count + r, count + n, f"round {r}/{n}")) if progress else None)
