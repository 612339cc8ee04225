"""Frames between hwnas and its agent: a JSON header, then the binary blobs it announces.

A frame is a 4-byte big-endian header length, the UTF-8 JSON header, and the blobs (ONNX
models) whose byte lengths the header lists under ``"blobs"``. Standard library only.
"""

from __future__ import annotations

import json
import struct
from typing import Any, BinaryIO, Dict, List, Sequence, Tuple

VERSION = 1  # of the protocol: hwnas and the agent it sends must agree
MAX_HEADER = 64 << 20


def write_frame(stream: BinaryIO, header: Dict[str, Any], blobs: Sequence[bytes] = ()) -> None:
    head = json.dumps({**header, "blobs": [len(b) for b in blobs]}).encode("utf-8")
    stream.write(struct.pack(">I", len(head)) + head)
    for blob in blobs:
        stream.write(blob)
    stream.flush()


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise EOFError(f"the stream ended {left} byte(s) into a frame of {n}")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame(stream: BinaryIO) -> Tuple[Dict[str, Any], List[bytes]]:
    """The next frame; EOFError where the stream ends (the other side is gone)."""
    first = stream.read(4)
    if not first:
        raise EOFError("the stream ended")
    if len(first) < 4:
        first += _read_exact(stream, 4 - len(first))
    (length,) = struct.unpack(">I", first)
    if length > MAX_HEADER:
        raise ValueError(f"a frame header of {length} bytes: the stream is not hwnas's protocol")
    header = json.loads(_read_exact(stream, length).decode("utf-8"))
    return header, [_read_exact(stream, n) for n in header.get("blobs", [])]
