"""Starting the agent on a target: the command line, the agent's source sent over stdin, and
one clear line for each way the start can fail.

With a ``runner`` (``ssh pi@raspberrypi``, ``ssh -p 2222 -i key user@127.0.0.1``, ``sh -c``),
the runner gets one shell command line as its last argument, as ``ssh`` and ``sh -c`` take it,
so users' own SSH options and config apply. Without a runner but with ``python``, the agent runs
in that Python on this machine. Nothing is copied to the target beforehand: the command holds a
short bootstrap, which reads the agent's modules as the first frame on stdin and runs them.
"""

from __future__ import annotations

import base64
import re
import shlex
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from hwnas.device.agent import protocol
from hwnas.device.spec import DeviceSpec, DeviceUnavailableError

AGENT_DIR = Path(__file__).resolve().parent / "agent"
PACKAGE = "hwnas_agent"  # the agent's package name on the target
DEFAULT_PYTHON = "python3"
TOO_OLD_EXIT = 4

# Python 2 must be able to parse the first lines, to say that it is too old.
BOOTSTRAP = r'''
import sys
if sys.version_info < (3, 8):
    sys.stderr.write("hwnas-agent: the target's Python %d.%d is too old: the agent needs Python 3.8 or newer\n"
                     % sys.version_info[:2])
    sys.exit(TOO_OLD)
import importlib.abc, importlib.util, json, struct
stdin = sys.stdin.buffer
sources = json.loads(stdin.read(struct.unpack(">I", stdin.read(4))[0]).decode("utf-8"))["sources"]


class AgentSource(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name in sources:
            return importlib.util.spec_from_loader(name, self, is_package=name == "PACKAGE")

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        exec(compile(sources[module.__name__], "<hwnas agent %s>" % module.__name__, "exec"), module.__dict__)


sys.meta_path.insert(0, AgentSource())
from PACKAGE.serve import main
sys.exit(main())
'''.replace("TOO_OLD", str(TOO_OLD_EXIT)).replace("PACKAGE", PACKAGE)


class TargetError(DeviceUnavailableError):
    """The target could not be reached, or its agent failed: one line says which and what to do."""


def agent_sources() -> Dict[str, str]:
    """The agent's modules by the names they have on the target."""
    sources = {}
    for path in sorted(AGENT_DIR.glob("*.py")):
        name = PACKAGE if path.stem == "__init__" else f"{PACKAGE}.{path.stem}"
        sources[name] = path.read_text(encoding="utf-8")
    return sources


def agent_command(spec: DeviceSpec) -> List[str]:
    """The command that starts the agent for ``spec`` (which must name a runner or a python)."""
    code = f'import base64;exec(base64.b64decode("{base64.b64encode(BOOTSTRAP.encode()).decode()}"))'
    python = spec.python or DEFAULT_PYTHON
    if spec.runner is None:
        return [python, "-c", code]
    return shlex.split(spec.runner) + [shlex.join([python, "-c", code])]


def describe(spec: DeviceSpec) -> str:
    """How the target is reached, for messages: ``the runner `ssh pi@host` (python: python3)``."""
    if spec.runner is None:
        return f"the Python `{spec.python}`"
    return f"the runner `{spec.runner}` (python: {spec.python or DEFAULT_PYTHON})"


_HOST_KEY = re.compile(r"host key verification failed|remote host identification has changed", re.I)
_UNREACHABLE = re.compile(r"could not resolve|connection refused|no route to host|timed out|network is unreachable|"
                          r"connection closed|connection reset|name or service not known", re.I)
_AUTH = re.compile(r"permission denied|authentication|too many authentication", re.I)
_NO_PYTHON = re.compile(r"not found|no such file or directory", re.I)


def last_line(lines: Sequence[str]) -> str:
    """The line that says most of an agent's or runner's stderr (warnings and blank lines skipped),
    without its closing full stop (messages go on after it)."""
    useful = [line.strip() for line in lines if line.strip() and "warning" not in line.lower()[:40]]
    return useful[-1].rstrip(".") if useful else ""


def cannot_start(spec: DeviceSpec, program: str, exc: OSError) -> TargetError:
    """The runner (or, without one, the Python) could not be started on this machine at all."""
    if spec.runner is not None:
        return TargetError(f"the runner `{spec.runner}` cannot be started here ({program}: {exc.strerror or exc}); "
                           f"install it or fix the device file's `runner:`")
    return explain_exit(spec, 127, [f"{program}: {exc.strerror or exc}"])


def explain_exit(spec: DeviceSpec, returncode: Optional[int], stderr: Sequence[str]) -> TargetError:
    """One line for an agent that ended before answering, from its exit status and stderr."""
    line = last_line(stderr)
    how = describe(spec)
    python = spec.python or DEFAULT_PYTHON
    if "hwnas-agent:" in line:
        return TargetError(line.split("hwnas-agent:", 1)[1].strip() + f" (reached through {how}); set `python:` "
                           f"in the device file to a newer one")
    if spec.runner is not None and returncode == 255 and _HOST_KEY.search(line):
        return TargetError(f"the target's host key is not the one known for it ({line}): check that `{spec.runner}` "
                           f"reaches the right machine, then update its entry in ~/.ssh/known_hosts")
    if spec.runner is not None and returncode == 255 and _AUTH.search(line):
        return TargetError(f"the target refused authentication through `{spec.runner}`: {line}. Check the user, the "
                           f"key and that `{spec.runner} true` works in a shell")
    if spec.runner is not None and returncode == 255 and _UNREACHABLE.search(line):
        return TargetError(f"cannot reach the target through `{spec.runner}`: {line}. Check the host, the port and "
                           f"that `{spec.runner} true` works in a shell")
    if returncode in (126, 127) or (_NO_PYTHON.search(line) and python.split("/")[-1] in line):
        return TargetError(f"the target has no Python at `{python}` ({line or f'exit status {returncode}'}); set "
                           f"`python:` in the device file to the path of its Python 3.8+ (reached through {how})")
    if "ModuleNotFoundError" in line or "ImportError" in line:
        return TargetError(f"the target's Python lacks a module the agent needs ({line}): pip install numpy "
                           f"onnxruntime there")
    return TargetError(f"the agent on the target ended (exit status {returncode}) before answering"
                       + (f": {line}" if line else "") + f" (reached through {how})")


def send_agent(stream) -> None:
    """The first frame a started agent reads: its own source."""
    protocol.write_frame(stream, {"sources": agent_sources()})
