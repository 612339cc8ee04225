"""The latency lookup table: per-piece latencies on one device for one space configuration.

On disk: ``latency_tables/<device-id>/<space-config>.csv`` (one row per piece, readable with
pandas) and a JSON sidecar beside it (device spec, host, ONNX Runtime version and provider,
opset, batch, the subtracted per-run overhead, validation results and calibration). A table
predicts a genotype's end-to-end latency as the per-run overhead plus the sum of its pieces'
latencies, corrected by a linear calibration fitted on measured whole networks (per-class
scales and an intercept; see :mod:`hwnas.profile.calibrate`). Every prediction, one genotype, many, or
the search's expectation, is read from one :class:`~hwnas.spaces.costs.Costs` (:meth:`LatencyTable.costs`).
"""

from __future__ import annotations

import json
import os
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

import numpy as np
import pandas as pd

from hwnas.core import fileio
from hwnas.device.target import open_target
from hwnas.device.agent.host import describe_host, fingerprint
from hwnas.device.agent.session import GPU_PROVIDERS
from hwnas.device.spec import DeviceSpec, resolve_device, with_precision
from hwnas.device.spec import named as device_name
from hwnas.spaces import Piece, SearchSpace, config_slug, profile_command
from hwnas.spaces.costs import Costs

log = logging.getLogger(__name__)

TABLE_FORMAT_VERSION = 1
COLUMNS = ["key", "op", "c_in", "c_out", "stride", "size", "arity", "latency_ms", "median_ms", "p10_ms", "p90_ms",
           "repeats"]
CHECKED_NETWORKS = 8  # validation networks whose recorded raw sums a loaded table must reproduce
SHIPPED_TABLES = fileio.shipped("latency_tables")  # the repository's, packed into the wheel


class MissingRowsError(KeyError):
    """The table does not cover some pieces a genotype or configuration needs."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def user_tables_dir() -> Path:
    """Where tables profiled without ``--tables-dir`` go: ``$HWNAS_TABLES``, else
    ``$XDG_DATA_HOME/hwnas/latency_tables`` (``~/.local/share/...``). Outside the package, so
    installing another hwnas never deletes them and a read-only installation still profiles."""
    if os.environ.get("HWNAS_TABLES"):
        return Path(os.environ["HWNAS_TABLES"]).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data).expanduser() / "hwnas" / "latency_tables"


def table_path(device_id: str, space: SearchSpace, tables_dir: Optional[str | Path] = None) -> Path:
    """Where a table is read from: ``tables_dir``; without it, the user's tables when they hold
    this one (profiled on this machine), else the tables shipped with hwnas."""
    name = Path(device_id) / f"{config_slug(space)}.csv"
    if tables_dir:
        return Path(tables_dir) / name
    user, shipped = user_tables_dir() / name, SHIPPED_TABLES / name
    return shipped if shipped.is_file() and not user.is_file() else user


def writable_table_path(device_id: str, space: SearchSpace, tables_dir: Optional[str | Path] = None) -> Path:
    """Where profiling and calibration write a table: ``tables_dir``, else the user's tables
    (never the package's own folder)."""
    return (Path(tables_dir) if tables_dir else user_tables_dir()) / device_id / f"{config_slug(space)}.csv"


@dataclass
class LatencyTable:
    """Per-piece latencies (ms) of one space configuration on one device."""

    device_id: str
    space: SearchSpace
    rows: pd.DataFrame
    meta: Dict[str, Any] = field(default_factory=dict)

    # how to rebuild this table, for error messages (set by :func:`load_table_for`)
    rebuild: str = ""

    def __post_init__(self) -> None:
        self.rebuild = self.rebuild or profile_command(self._device_name(), self.space)
        self._raw = dict(zip(self.rows["key"], self.rows["latency_ms"].astype(float)))
        self._pieces = {row.key: Piece(row.op, int(row.c_in), int(row.c_out), int(row.stride), int(row.size),
                                       int(row.arity)) for row in self.rows.itertuples()}
        self.set_calibration(self.meta.get("calibration"))

    def set_calibration(self, calibration: Optional[Dict[str, Any]]) -> None:
        """Use (or, with ``None``, drop) a calibration: per-class scales, offsets and an intercept (ms).

        A calibrated table predicts ``intercept + overhead + sum(scale[class] * latency +
        offset[class])`` over the pieces that run, the class of a piece given by the
        calibration's ``features`` (see :func:`piece_class`).
        """
        if calibration:
            self.meta["calibration"] = calibration
        else:
            self.meta.pop("calibration", None)
        scale = (calibration or {}).get("scale", {})
        offset = (calibration or {}).get("offset", {})
        features = (calibration or {}).get("features", "op")

        def calibrated(key: str, raw: float) -> float:
            cls = piece_class(self._pieces[key], features)
            # an identity (raw 0) runs nothing and stays free
            return raw * float(scale.get(cls, 1.0)) + (float(offset.get(cls, 0.0)) if raw > 0 else 0.0)

        self._latency = {k: calibrated(k, v) for k, v in self._raw.items()}
        self._costs: Dict[bool, Costs] = {}

    # -- lookups -----------------------------------------------------------------------------
    @property
    def overhead_ms(self) -> float:
        """Per-run overhead plus the calibration's intercept: the cost of running any network."""
        return float(self.meta.get("overhead_ms", 0.0)) + float((self.calibration or {}).get("intercept", 0.0))

    @property
    def calibration(self) -> Optional[Dict[str, Any]]:
        return self.meta.get("calibration")

    def has(self, piece: Piece) -> bool:
        return piece.key in self._latency

    def missing(self, pieces: Iterable[Piece]) -> List[Piece]:
        return sorted({p for p in pieces if p.key not in self._latency})

    def require(self, pieces: Iterable[Piece]) -> None:
        missing = self.missing(pieces)
        if missing:
            shown = ", ".join(p.key for p in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise MissingRowsError(
                f"the {self.device_id} table for {config_slug(self.space)} lacks {len(missing)} row(s): {shown}. "
                f"Add them with: {self.rebuild}")

    def _device_name(self) -> str:
        return _named_in(self.meta, self.device_id)

    def lookup(self, piece: Piece) -> float:
        """Latency (ms) of one piece, calibrated when the table has a calibration."""
        return self._row(self._latency, piece)

    def raw_lookup(self, piece: Piece) -> float:
        """Measured latency (ms) of one piece, overhead subtracted, no calibration."""
        return self._row(self._raw, piece)

    def _row(self, latencies: Dict[str, float], piece: Piece) -> float:
        if piece.key not in latencies:
            self.require([piece])  # raises, naming the missing rows and how to add them
        return latencies[piece.key]

    # -- prediction --------------------------------------------------------------------------
    def costs(self, calibrated: bool = True) -> Costs:
        """The latency (ms) of every network of the table's space: ``.of(genotype)``,
        ``.many(encoded)``, ``.expected(probs)``, ``.range()``; the per-run overhead included,
        and the calibration unless ``calibrated=False`` (the measured rows' plain sum)."""
        if calibrated not in self._costs:
            self.require(self.space.all_pieces())
            lookup = self.lookup if calibrated else self.raw_lookup
            overhead = self.overhead_ms if calibrated else float(self.meta.get("overhead_ms", 0.0))
            self._costs[calibrated] = self.space.costs(lookup, fixed=overhead)
        return self._costs[calibrated]

    def describes(self, target: Any) -> bool:
        """Whether the table was measured on ``target``'s kind of machine: the same CPU name,
        architecture and speed-relevant instruction sets (the same GPU and driver, for a GPU
        device). A table of an earlier hwnas, which recorded no instruction sets, describes none."""
        recorded = fingerprint(self.meta.get("host", {}), gpu=str(self.meta.get("provider")) in GPU_PROVIDERS)
        return recorded is not None and recorded == target.fingerprint()

    @property
    def host(self) -> str:
        """The machine the table was measured on, for messages."""
        return describe_host(self.meta.get("host", {}))

    # -- files -------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the CSV and its JSON sidecar atomically."""
        path = Path(path)
        with fileio.atomic_open(path, "w") as handle:
            self.rows[COLUMNS].to_csv(handle, index=False, float_format="%.6g")
        fileio.write_json(sidecar_path(path), {**self.meta, "format_version": TABLE_FORMAT_VERSION,
                                               "device_id": self.device_id, "space": self.space.config()})

    @classmethod
    def load(cls, path: str | Path, space: Optional[SearchSpace] = None) -> "LatencyTable":
        """The table at ``path``, checked; ``space``: the space it is read for, which stands for the
        one its sidecar records when they describe the same (a space file that moved)."""
        from hwnas.spaces import space_from_config

        path = Path(path)
        meta_path = sidecar_path(path)
        if not path.is_file() or not meta_path.is_file():
            raise FileNotFoundError(f"latency table {path} (with its sidecar {meta_path.name}) not found")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CorruptTableError(f"the table sidecar {meta_path} cannot be read ({exc}); re-profile the table "
                                    f"with --force") from None
        if not isinstance(meta, dict) or meta.get("format_version") != TABLE_FORMAT_VERSION:
            version = meta.get("format_version") if isinstance(meta, dict) else None
            raise CorruptTableError(f"{meta_path} has table format {version!r}; this hwnas reads "
                                    f"{TABLE_FORMAT_VERSION}: re-profile the table with --force")

        def described(config: Any) -> Any:  # a space file counts by what it describes, not where it is
            return {k: v for k, v in config.items() if k != "space_file"} if isinstance(config, dict) else config

        try:
            if space is None or described(meta["space"]) != described(space.config()):
                space = space_from_config(meta["space"])
            device_id = str(meta["device_id"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptTableError(f"{meta_path} does not describe a space and device ({exc}); re-profile the "
                                    f"table with --force") from None
        hint = profile_command(_named_in(meta, device_id), space, path.parent.parent, force=True)
        try:
            rows = pd.read_csv(path)
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            raise CorruptTableError(f"the latency table {path} cannot be read ({exc}); rebuild it with: "
                                    f"{hint}") from None
        if config_slug(space) != path.stem:  # a copied or renamed file: its sidecar describes another table
            raise CorruptTableError(f"{path} holds the table of {config_slug(space)} (so says its sidecar), not of "
                                    f"{path.stem}: a table's name is its configuration; remove the copy (the .csv and "
                                    f"its .json) and profile {path.stem} with hwnas profile")
        problem = _check_rows(rows, space)
        table = None if problem else cls(device_id, space, rows, meta, rebuild=hint)
        problem = problem or table.contradiction()
        if problem:
            raise CorruptTableError(f"the latency table {path} {problem}; it is not used. Rebuild it with: {hint}")
        return table

    def contradiction(self) -> Optional[str]:
        """Where the rows contradict the sidecar's record of its whole-network validation (rows edited,
        columns swapped or rescaled, another table's sidecar): the raw sums it recorded for its first
        networks must still come out of the rows. ``None`` where they do, or nothing was recorded."""
        from hwnas.spaces.genotypes import genotype_from_dict

        records = ((self.meta.get("validation") or {}).get("networks") or [])[:CHECKED_NETWORKS]
        if not records:
            return None
        try:
            recorded = np.array([float(r["table_ms"]) for r in records])
            x = np.stack([self.space.encode(genotype_from_dict(json.loads(r["genotype"]))) for r in records])
            now = self.costs(calibrated=False).many(x)
        except (KeyError, TypeError, ValueError, MissingRowsError):  # GenotypeError is a ValueError
            return "has validation records that its space cannot read"
        off = np.flatnonzero(~np.isclose(now, recorded, rtol=1e-3, atol=1e-6))
        if off.size:
            return (f"sums to {now[off[0]]:.4g} ms for a network its own validation recorded at "
                    f"{recorded[off[0]]:.4g} ms: its rows were changed after it was measured")
        return None


FEATURES = ("op", "op_stride", "op_size")


def piece_class(piece: Piece, features: str) -> str:
    """The class whose calibration scale a piece takes: by op, by (op, stride) or by (op, input size)."""
    if features == "op":
        return piece.op
    if features == "op_stride":
        return f"{piece.op}|s{piece.stride}"
    if features == "op_size":
        return f"{piece.op}|{piece.size}x{piece.size}"
    raise ValueError(f"unknown calibration features {features!r}; one of {', '.join(FEATURES)}")


def _named_in(meta: Dict[str, Any], device_id: str) -> str:
    """The device a sidecar describes as a command line names it (``cpu@int8``, not its folder ``cpu-int8``)."""
    device = meta.get("device") if isinstance(meta.get("device"), dict) else {}
    precision = str(meta.get("precision") or device.get("precision") or "fp32")
    base = str(device.get("id") or device_id)
    return with_precision(base, precision) if precision in ("fp32", "int8", "fp16") else device_id


class CorruptTableError(ValueError):
    """A table file that cannot be trusted: never partly used."""


def _check_rows(rows: pd.DataFrame, space: SearchSpace) -> Optional[str]:
    """What is wrong with a table's rows (``None``: nothing): columns, values, keys."""
    lacking = [c for c in COLUMNS if c not in rows.columns]
    if lacking:
        return f"lacks column(s) {', '.join(lacking)}"
    numeric = ["c_in", "c_out", "stride", "size", "arity", "latency_ms"]
    values = rows[numeric].apply(pd.to_numeric, errors="coerce")
    bad = ~np.isfinite(values.to_numpy(dtype=float)).all(axis=1) | (values["latency_ms"] < 0).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        return (f"has {int(bad.sum())} row(s) with a missing, non-numeric, infinite or negative value (first: line "
                f"{i + 2}, {rows['key'].iloc[i]!r}, latency_ms {rows['latency_ms'].iloc[i]})")
    timed = rows[pd.to_numeric(rows["repeats"], errors="coerce").fillna(0) > 0]
    stats = timed[["p10_ms", "median_ms", "p90_ms"]].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    disordered = ~((stats[:, 0] <= stats[:, 1] * (1 + 1e-6)) & (stats[:, 1] <= stats[:, 2] * (1 + 1e-6)))
    if disordered.any():
        i = int(np.flatnonzero(disordered)[0])
        return (f"has {int(disordered.sum())} row(s) whose statistics are out of order (p10 <= median <= p90; first: "
                f"{timed['key'].iloc[i]!r}: {stats[i, 0]:g}, {stats[i, 1]:g}, {stats[i, 2]:g} ms): columns swapped "
                f"or edited")
    if rows["key"].duplicated().any():
        return f"repeats the row {rows['key'][rows['key'].duplicated()].iloc[0]!r}"
    for row in rows.itertuples():
        piece = Piece(str(row.op), int(row.c_in), int(row.c_out), int(row.stride), int(row.size), int(row.arity))
        if piece.key != row.key:
            return f"has a row whose key {row.key!r} does not match its columns ({piece.key!r})"
    unknown = set(rows["key"]) - {p.key for p in space.all_pieces()}
    if unknown:
        return f"has {len(unknown)} row(s) its space configuration never uses (e.g. {sorted(unknown)[0]!r})"
    return None


def sidecar_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_suffix(".json")


def rows_frame(records: Sequence[Dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(list(records), columns=COLUMNS)


def load_table_for(device: str | DeviceSpec, space: SearchSpace, tables_dir: Optional[str | Path] = None,
                   require_complete: bool = True, warn_other_host: bool = True) -> LatencyTable:
    """The table of ``space``'s configuration on ``device``; a clear error if there is none, and a
    warning if it was profiled on another machine."""
    spec = device if isinstance(device, DeviceSpec) else resolve_device(device)
    named = str(device) if not isinstance(device, DeviceSpec) else device_name(spec)  # as the user would name it
    path = table_path(spec.id, space, tables_dir)
    if not path.is_file():
        looked = (str(path) if tables_dir
                  else f"{user_tables_dir() / spec.id / path.name} and {SHIPPED_TABLES / spec.id / path.name}")
        raise FileNotFoundError(f"no latency table for {config_slug(space)} on device {spec.id} (looked in {looked}). "
                                f"Build it with: {profile_command(named, space, tables_dir)}")
    table = LatencyTable.load(path, space)
    table.rebuild = profile_command(named, space, tables_dir)
    if require_complete and not table.meta.get("complete", False):
        raise ValueError(f"the table {path} is incomplete (profiling was interrupted); finish it with: "
                         f"{table.rebuild}")
    if require_complete:
        table.require(space.all_pieces())  # a table that claims to be complete but lacks rows is not used
    if warn_other_host and not spec.remote and not table.describes(open_target(spec)):
        log.warning("the table %s was profiled on %s, not known to be this machine (%s): its latencies describe "
                    "that one; for this machine, profile it here: %s", path, table.host,
                    describe_host(open_target(spec).facts()),
                    # --force where profiling would find this foreign table (it refuses to resume over it)
                    profile_command(named, space, tables_dir,
                                    force=path == writable_table_path(spec.id, space, tables_dir)))
    return table
