"""Replay logs: an Arrow IPC stream of every frame with the θ and forecast it produced.

The stream's schema metadata holds the header (schema version, package version, engine
configuration incl. seed, θ0, producer specs, source). Each frame is one record batch
(with the forecast's quantile bands when the engine draws paths: the seed acts only there),
appended and flushed as soon as the engine has stepped it, so a crash loses at most the
frame being written; ``read_log`` returns every complete frame of a truncated file.
``replay_log`` feeds the logged frames to a fresh engine built from the header and
checks that every forecast, band and θ snapshot comes out bit for bit the same.
"""

from __future__ import annotations

import contextlib
import dataclasses

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from marketphys._version import __version__
from marketphys.core.engine import Engine
from marketphys.core.frame import MarketFrame
from marketphys.core.theta import Theta
from marketphys.kernels import make_engine
from marketphys.replay.specs import build_producers, engine_config_from_dict, producer_spec

LOG_SCHEMA_VERSION = 1
_F64L = pa.list_(pa.float64())
FRAME_SCHEMA = pa.schema([
    ("ts_ns", pa.int64()), ("spot", pa.float64()), ("tick_size", pa.float64()),
    ("scalar_names", pa.list_(pa.string())), ("scalar_values", _F64L),
    ("profile_names", pa.list_(pa.string())), ("profile_values", pa.list_(_F64L)),
    ("strike_rel_ticks", _F64L), ("strike_names", pa.list_(pa.string())), ("strike_values", pa.list_(_F64L)),
    ("theta", _F64L), ("x_hat", _F64L),
    ("bands", pa.list_(_F64L)),   # one list per quantile of the header's engine_config; null without paths
])


class LogError(ValueError):
    """The file is not a replay log this version can read; names the file and the problem."""


def _header(session) -> dict:
    return {"log_schema_version": LOG_SCHEMA_VERSION, "package_version": __version__,
            "engine_config": session.config.to_dict(), "seed": session.config.seed,
            "backend": session.backend,  # the kernel backend that ran ("auto" resolved): a bit-identical replay needs it
            "theta0": Theta.coerce(session.theta0).to_dict(),
            "producers": [producer_spec(p) for p in session.producers], "source": session.source.describe(),
            "meta": session.meta}


def frame_record(frame: MarketFrame, theta: np.ndarray, x_hat: np.ndarray, bands=None) -> pa.RecordBatch:
    sn = list(frame.scalars)
    pn = list(frame.profiles)
    kn = list(frame.strikes)
    row = {
        "ts_ns": [int(frame.ts_ns)], "spot": [float(frame.spot)], "tick_size": [float(frame.tick_size)],
        "scalar_names": [sn], "scalar_values": [[float(frame.scalars[k]) for k in sn]],
        "profile_names": [pn], "profile_values": [[np.asarray(frame.profiles[k], np.float64) for k in pn]],
        "strike_rel_ticks": [None if frame.strike_rel_ticks is None else np.asarray(frame.strike_rel_ticks, np.float64)],
        "strike_names": [kn], "strike_values": [[np.asarray(frame.strikes[k], np.float64) for k in kn]],
        "theta": [np.asarray(theta, np.float64)], "x_hat": [np.asarray(x_hat, np.float64)],
        "bands": [None if bands is None else [np.asarray(b, np.float64) for b in bands.values()]],
    }
    return pa.RecordBatch.from_pydict(row, schema=FRAME_SCHEMA)


def frames_from_table(t: pa.Table) -> list[MarketFrame]:
    d = t.to_pydict()
    out = []
    for i in range(t.num_rows):
        rel = d["strike_rel_ticks"][i]
        out.append(MarketFrame(
            ts_ns=int(d["ts_ns"][i]), spot=d["spot"][i], tick_size=d["tick_size"][i],
            scalars=dict(zip(d["scalar_names"][i], d["scalar_values"][i])),
            profiles={k: np.asarray(v, np.float64) for k, v in zip(d["profile_names"][i], d["profile_values"][i])},
            strike_rel_ticks=None if rel is None else np.asarray(rel, np.float64),
            strikes={k: np.asarray(v, np.float64) for k, v in zip(d["strike_names"][i], d["strike_values"][i])}))
    return out


class ReplayLogWriter:
    """Append-only writer; ``durable=True`` also fsyncs every frame (survives power loss, slower).

    If a write fails (disk full, I/O error) the log is renamed ``<name>.incomplete`` before the
    error is raised, so nothing short stays under the name a finished run would have (the
    frames written so far are still readable there with ``read_log``).
    """

    def __init__(self, path, session, durable: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.durable = durable
        header = _header(session)
        schema = FRAME_SCHEMA.with_metadata({b"marketphys.replay_log": json.dumps(header).encode()})
        self._fh = open(self.path, "wb")
        self.n = 0
        with self._guard():
            self._writer = pa.ipc.new_stream(self._fh, schema)
            self._fh.flush()

    @contextlib.contextmanager
    def _guard(self):
        try:
            yield
        except OSError as err:
            self._abandon()
            bad = self.path.with_name(self.path.name + ".incomplete")
            raise OSError(err.errno, f"replay log not written ({err.strerror or err}); the {self.n} frames "
                                     f"written are in {bad}", str(self.path)) from None

    def _abandon(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._fh.close()
        with contextlib.suppress(OSError):
            os.replace(self.path, self.path.with_name(self.path.name + ".incomplete"))

    def write(self, frame: MarketFrame, forecast) -> None:
        with self._guard():
            self._writer.write_batch(frame_record(frame, forecast.theta, forecast.x_hat, forecast.bands))
        self.flush()
        self.n += 1

    def flush(self) -> None:
        if self._fh.closed:
            return
        with self._guard():
            self._fh.flush()
            if self.durable:
                os.fsync(self._fh.fileno())

    def close(self) -> None:
        if not self._fh.closed:
            with self._guard():
                self._writer.close()
                self._fh.close()


@dataclass
class ReplayLog:
    path: Path
    header: dict
    table: pa.Table
    complete: bool          # False when the file ended mid-frame (crash) or without the end marker
    frames: list[MarketFrame] = field(default_factory=list)

    @property
    def thetas(self) -> np.ndarray:
        return np.array(self.table.column("theta").to_pylist(), dtype=np.float64).reshape(self.table.num_rows, -1)

    @property
    def x_hats(self) -> np.ndarray:
        return np.array(self.table.column("x_hat").to_pylist(), dtype=np.float64).reshape(self.table.num_rows, -1)

    @property
    def bands(self) -> np.ndarray | None:
        """(frames, quantiles, horizons) in ticks, or None when the run drew no paths (or predates bands)."""
        if "bands" not in self.table.column_names:
            return None
        rows = self.table.column("bands").to_pylist()
        if not rows or any(r is None for r in rows):
            return None
        return np.array(rows, dtype=np.float64)


def read_log(path) -> ReplayLog:
    """Every complete frame of the log (a truncated tail is dropped, and ``complete`` says so)."""
    path = Path(path)
    if not path.is_file():
        raise LogError(f"replay log {str(path)!r} does not exist")
    data = path.read_bytes()
    try:
        reader = pa.ipc.open_stream(pa.py_buffer(data))
    except (pa.ArrowInvalid, OSError) as err:
        raise LogError(f"{str(path)!r} is not a replay log (Arrow IPC stream): {err}") from None
    meta = reader.schema.metadata or {}
    if b"marketphys.replay_log" not in meta:
        raise LogError(f"{str(path)!r} is an Arrow stream but not a marketphys replay log (no header)")
    header = json.loads(meta[b"marketphys.replay_log"])
    if header.get("log_schema_version") != LOG_SCHEMA_VERSION:
        raise LogError(f"{str(path)!r} has log schema version {header.get('log_schema_version')!r}; this version reads "
                       f"{LOG_SCHEMA_VERSION}")
    batches, complete = [], True
    while True:
        try:
            batches.append(reader.read_next_batch())
        except StopIteration:
            break
        except (pa.ArrowInvalid, OSError, EOFError):
            complete = False
            break
    table = pa.Table.from_batches(batches, schema=reader.schema) if batches else reader.schema.empty_table()
    if complete and not _has_end_marker(data):
        complete = False
    return ReplayLog(path=path, header=header, table=table, complete=complete, frames=frames_from_table(table))


def _has_end_marker(data: bytes) -> bool:
    # an IPC stream closed by its writer ends with the 8-byte end-of-stream marker
    return data[-8:] == b"\xff\xff\xff\xff\x00\x00\x00\x00"


@dataclass
class ReplayResult:
    log: ReplayLog
    engine: Engine
    thetas: np.ndarray
    x_hats: np.ndarray
    bands: np.ndarray | None = None

    @property
    def identical(self) -> bool:
        logged = self.log.bands
        bands_same = (logged is None and self.bands is None) or (
            logged is not None and self.bands is not None and np.array_equal(self.bands, logged))
        return (self.thetas.shape == self.log.thetas.shape and np.array_equal(self.thetas, self.log.thetas)
                and np.array_equal(self.x_hats, self.log.x_hats) and bands_same)

    def first_mismatch(self) -> int | None:
        for i in range(min(len(self.thetas), len(self.log.thetas))):
            if not (np.array_equal(self.thetas[i], self.log.thetas[i]) and np.array_equal(self.x_hats[i], self.log.x_hats[i])):
                return i
            logged = self.log.bands
            if (logged is None) != (self.bands is None) or (logged is not None and not np.array_equal(self.bands[i], logged[i])):
                return i
        return None


def replay_log(path, producers=None, progress: bool = False) -> ReplayResult:
    """Re-run the logged frames through a fresh engine (producers rebuilt from the header unless given)."""
    from tqdm.auto import tqdm

    log = read_log(path)
    cfg = engine_config_from_dict(log.header["engine_config"])
    if log.header.get("backend"):  # re-run on the backend the log was written with (float32 kernels differ from numpy)
        cfg = dataclasses.replace(cfg, backend=log.header["backend"])
    prods = build_producers(log.header["producers"]) if producers is None else list(producers)
    for p in prods:
        p.reset()
    eng = make_engine(prods, cfg, theta0=Theta.from_dict(log.header["theta0"]))
    th, xs, bs = [], [], []
    for f in tqdm(log.frames, disable=not progress, desc="replay log", unit="frame"):
        fc = eng.step(f)
        th.append(fc.theta)
        xs.append(fc.x_hat)
        bs.append(None if fc.bands is None else list(fc.bands.values()))
    H, P = cfg.integrator.horizons, len(log.header["theta0"])
    bands = None if not bs or any(b is None for b in bs) else np.array(bs, dtype=np.float64)
    return ReplayResult(log=log, engine=eng, thetas=np.array(th).reshape(-1, P), x_hats=np.array(xs).reshape(-1, H),
                        bands=bands)
