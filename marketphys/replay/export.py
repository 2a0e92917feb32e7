"""θ files: versioned JSON a production engine can load (docs/architecture.md#replay-sessions-export).

Contents: θ, bounds, grid, integrator and learner settings, producer configuration,
training window, scorecard, package version, schema version and a SHA-256 checksum
of the canonical JSON of everything else. Writes are atomic. ``load_theta`` checks
the schema version, the checksum, θ against its bounds and (when asked) the grid,
and refuses anything else with a message that says what differs and what to do.

A θ file is data, never code: its producers are rebuilt only through the producer
registry (``specs.build_producer``), and its settings are range-checked on load. The
checksum catches corruption, not tampering (anyone can recompute it); for a hand-off
to production, set ``MARKETPHYS_THETA_KEY`` on both sides: exports then carry an
HMAC-SHA256 signature, and loads refuse a file whose signature is absent or wrong.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from marketphys._version import __version__
from marketphys.core.engine import EngineConfig
from marketphys.core.grid import Grid
from marketphys.core.theta import PARAM_NAMES, Theta, ThetaBounds
from marketphys.atomic import atomic_write_text
from marketphys.replay.specs import build_producers, engine_config_from_dict, producer_spec

THETA_SCHEMA = "marketphys.theta"
THETA_SCHEMA_VERSION = 1


class ThetaFileError(ValueError):
    """A θ file that cannot be used here; names the file, the field and the value."""


def _canonical(d: dict) -> bytes:
    return json.dumps(d, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


SIGNING_KEY_ENV = "MARKETPHYS_THETA_KEY"
"""Environment variable holding the HMAC key; when set, exports sign and loads require a valid signature."""


def checksum(doc: dict) -> str:
    return "sha256:" + hashlib.sha256(_canonical({k: v for k, v in doc.items() if k not in ("checksum", "signature")})).hexdigest()


def signing_key() -> bytes | None:
    key = os.environ.get(SIGNING_KEY_ENV)
    return key.encode("utf-8") if key else None


def signature(doc: dict, key: bytes) -> str:
    """HMAC-SHA256 over the canonical JSON of everything but the signature (checksum included)."""
    body = _canonical({k: v for k, v in doc.items() if k != "signature"})
    return "hmac-sha256:" + hmac.new(key, body, hashlib.sha256).hexdigest()


def _first_non_finite(obj, where: str = "") -> str | None:
    """Dotted path of the first NaN/inf number in a parsed JSON document, or None."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return where or "<document>"
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for k, v in items:
        found = _first_non_finite(v, f"{where}.{k}" if where else str(k))
        if found:
            return found
    return None


def theta_document(theta, config: EngineConfig, producers=(), training_window: dict | None = None,
                   scorecard: dict | None = None, notes: str = "", state: dict | None = None) -> dict:
    t = Theta.coerce(theta)
    doc = {"schema": THETA_SCHEMA, "schema_version": THETA_SCHEMA_VERSION, "package_version": __version__,
           "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
           "theta": t.to_dict(), "param_names": list(PARAM_NAMES), "bounds": config.bounds.to_dict(),
           "grid": config.grid.to_dict(), "engine_config": config.to_dict(),
           "producers": [producer_spec(p) for p in producers], "training_window": training_window or {},
           "scorecard": scorecard, "notes": notes}
    if state is not None:
        doc["state"] = state
    doc = json.loads(json.dumps(doc, default=_jsonable, allow_nan=False))
    doc["checksum"] = checksum(doc)
    key = signing_key()
    if key:
        doc["signature"] = signature(doc, key)
    return doc


def _jsonable(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


def export_theta(path, session=None, *, theta=None, config: EngineConfig | None = None, producers=None,
                 training_window: dict | None = None, scorecard=None, notes: str = "", state: dict | None = None) -> Path:
    """Write a θ file atomically; from a ``Session`` (its θ, settings, window, scorecard and the engine's whole
    learning state, ``core.state``: learner curvature, ledger, head with D, walls, producers) or from parts."""
    if session is not None:
        theta = session.theta if theta is None else theta
        config = session.config if config is None else config
        producers = session.producers if producers is None else producers
        training_window = session.training_window() if training_window is None else training_window
        if scorecard is None and session.n_steps:
            scorecard = session.scorecard()
        if state is None and getattr(session, "engine", None) is not None:   # a DayReplay keeps no engine
            from marketphys.core.state import engine_state
            state = engine_state(session.engine)
    if theta is None or config is None:
        raise ThetaFileError("export_theta needs a session, or theta= and config=")
    sc = scorecard.to_dict() if hasattr(scorecard, "to_dict") else scorecard
    doc = theta_document(theta, config, producers or (), training_window, sc, notes, state)
    atomic_write_text(path, json.dumps(doc, indent=2, allow_nan=False) + "\n")
    return Path(path)


@dataclass
class ThetaFile:
    path: Path
    document: dict
    theta: Theta
    bounds: ThetaBounds
    grid: Grid
    config: EngineConfig

    @property
    def producer_specs(self) -> list[dict]:
        return self.document.get("producers", [])

    def producers(self):
        """Rebuild the recorded producers (raises SpecError for ones defined in a notebook)."""
        return build_producers(self.producer_specs)

    @property
    def state(self) -> dict | None:
        """The engine's learning state when exported from a session (``core.state.engine_state``), else None."""
        return self.document.get("state")

    @property
    def scorecard(self) -> dict | None:
        return self.document.get("scorecard")

    @property
    def training_window(self) -> dict:
        return self.document.get("training_window", {})


def load_theta(path, grid: Grid | None = None) -> ThetaFile:
    """Read and validate a θ file; ``grid`` (the engine that will use it) must match the file's grid."""
    path = Path(path)
    if not path.is_file():
        raise ThetaFileError(f"θ file {str(path)!r} does not exist")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ThetaFileError(f"θ file {str(path)!r} is not JSON: {err}") from None
    bad_number = _first_non_finite(doc)
    if bad_number:
        raise ThetaFileError(f"θ file {str(path)!r}: field {bad_number} is not a finite number")
    if not isinstance(doc, dict) or doc.get("schema") != THETA_SCHEMA:
        raise ThetaFileError(f"{str(path)!r} is not a marketphys θ file (schema={doc.get('schema') if isinstance(doc, dict) else None!r})")
    ver = doc.get("schema_version")
    if ver != THETA_SCHEMA_VERSION:
        raise ThetaFileError(f"{str(path)!r} has θ schema_version={ver!r} (written by marketphys "
                             f"{doc.get('package_version')!r}); this marketphys reads version {THETA_SCHEMA_VERSION}: "
                             f"re-export θ with a matching version")
    want = doc.get("checksum")
    got = checksum(doc)
    if want != got:
        raise ThetaFileError(f"{str(path)!r}: checksum mismatch (file says {want}, content gives {got}); the file was "
                             f"edited or corrupted: re-export it")
    key = signing_key()
    if key:
        sig = doc.get("signature")
        if not isinstance(sig, str):
            raise ThetaFileError(f"{str(path)!r} is not signed, and {SIGNING_KEY_ENV} is set: only signed θ files "
                                 f"are accepted; export it with the same key")
        if not hmac.compare_digest(sig, signature(doc, key)):
            raise ThetaFileError(f"{str(path)!r}: signature does not match the key in {SIGNING_KEY_ENV}; the file "
                                 f"was altered or signed with another key")
    names = doc.get("param_names")
    if names != list(PARAM_NAMES):
        raise ThetaFileError(f"{str(path)!r}: param_names={names!r} but this engine's θ is {list(PARAM_NAMES)}")
    try:
        theta = Theta.from_dict(doc["theta"])
        config = engine_config_from_dict(doc["engine_config"])
        file_grid = Grid(**doc["grid"])
    except (KeyError, ValueError, TypeError, AttributeError) as err:
        raise ThetaFileError(f"{str(path)!r}: {err}") from None
    if file_grid != config.grid:
        raise ThetaFileError(f"{str(path)!r}: grid {doc['grid']} disagrees with engine_config grid {config.grid.to_dict()}")
    lo, hi = config.bounds.lo_array, config.bounds.hi_array
    bad = np.flatnonzero((theta.values < lo) | (theta.values > hi))
    if bad.size:
        i = int(bad[0])
        raise ThetaFileError(f"{str(path)!r}: θ {PARAM_NAMES[i]}={theta.values[i]} outside its bounds [{lo[i]}, {hi[i]}]")
    if grid is not None and grid != file_grid:
        raise ThetaFileError(f"{str(path)!r}: θ was trained on grid {file_grid.to_dict()} but this engine uses "
                             f"{grid.to_dict()}; field weights do not transfer across grids: retrain or use the file's grid")
    return ThetaFile(path=path, document=doc, theta=theta, bounds=config.bounds, grid=file_grid, config=config)
