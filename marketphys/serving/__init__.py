"""marketphys.serving: stream lake surfaces over WebSocket and turn the stream back into frames.

- ``protocol``: the ``/v1/hud/stream`` wire format (batch_start, surface_header + Arrow IPC, batch_end),
  default surfaces, parameter parsing, the holding rule for surfaces at other cadences.
- ``source``: per-surface window cursors over the lake (replay and live tail), merged by window end.
- ``session``: one client's bounded queue, pacing and the slow-consumer policy.
- ``server``: the Starlette app (stream + /v1/health, /v1/meta, /v1/dates), token check, ``ServerThread``.
- ``client``: async ``batches``/``frames``, the notebook ``LiveClient`` and ``LiveFeed`` into an Engine.
- ``verify``: the stream verification behind ``marketphys verify-stream``.
"""

import importlib

_EXPORTS = {"ServeConfig": "marketphys.serving.server", "ServerThread": "marketphys.serving.server",
            "LiveClient": "marketphys.serving.client", "StreamError": "marketphys.serving.client"}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    """Names load on first use (PEP 562): the server's Starlette and uvicorn only when asked for."""
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'marketphys.serving' has no attribute {name!r}")
    value = getattr(importlib.import_module(mod), name)
    globals()[name] = value
    return value
