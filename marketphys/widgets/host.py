"""A minimal anywidget host: serve one widget on loopback to a plain browser page.

The page loads the widget's own ESM and gives it a ``model`` with anywidget's
surface (get/set/save_changes/on/off); a WebSocket carries trait changes both ways,
bytes traits as binary frames. Used by the browser test and the scrub benchmark,
and handy for showing a lab outside Jupyter. Binds 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
import time

import traitlets
import uvicorn
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>marketphys lab</title>
<link rel="stylesheet" href="/widget.css"><style>body{background:#05060a;margin:8px}</style></head>
<body><div id="root"></div><script type="module">
import mod from "/widget.js";
const ws = new WebSocket(`ws://${location.host}/ws`);
ws.binaryType = "arraybuffer";
const state = {}, handlers = {};
let pending = {};
const emit = (k) => (handlers["change:" + k] || []).forEach((cb) => cb());
const model = {
  get: (k) => state[k],
  set: (k, v) => { state[k] = v; pending[k] = v; emit(k); },
  save_changes: () => { ws.send(JSON.stringify(pending)); pending = {}; },
  on: (ev, cb) => { (handlers[ev] = handlers[ev] || []).push(cb); },
  off: (ev, cb) => { handlers[ev] = (handlers[ev] || []).filter((f) => f !== cb); },
  send: () => {},
};
let started = false;
ws.onmessage = (ev) => {
  if (typeof ev.data === "string") {
    const msg = JSON.parse(ev.data);
    for (const [k, v] of Object.entries(msg)) { state[k] = v; if (started) emit(k); }
    if (!started && msg.__ready__) { started = true; mod.render({ model, el: document.getElementById("root") }); }
  } else {
    const view = new DataView(ev.data);
    const n = view.getUint32(0, true);
    const name = new TextDecoder().decode(new Uint8Array(ev.data, 4, n));
    state[name] = new DataView(ev.data, 4 + n);
    if (started) emit(name);
  }
};
window.__mp_model = model;
</script></body></html>"""


def _synced(widget) -> list[str]:
    """The widget's own synced traits (not ipywidgets' layout/style machinery)."""
    import ipywidgets

    base = set(ipywidgets.DOMWidget.class_trait_names())
    return [n for n in widget.trait_names(sync=True) if not n.startswith("_") and n not in base]


class WidgetHost:
    """Serve ``widget`` at ``url``; ``stop()`` shuts the server down."""

    def __init__(self, widget, host: str = "127.0.0.1", port: int = 0):
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"WidgetHost binds loopback only, got host={host!r}")
        self.widget = widget
        if port == 0:
            with socket.socket() as s:
                s.bind((host, 0))
                port = s.getsockname()[1]
        self.url = f"http://{host}:{port}/"
        self._clients: set[tuple[WebSocket, asyncio.AbstractEventLoop]] = set()
        app = Starlette(routes=[Route("/", self._page), Route("/widget.js", self._esm), Route("/widget.css", self._css),
                                WebSocketRoute("/ws", self._ws)])
        self._server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", ws="websockets-sansio"))
        widget.observe(self._on_change, names=_synced(widget))
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"WidgetHost: server did not start on {self.url}")
            time.sleep(0.02)

    # -- HTTP ------------------------------------------------------------------------
    async def _page(self, request):
        return HTMLResponse(PAGE)

    async def _esm(self, request):
        esm = self.widget._esm
        text = esm.read_text() if hasattr(esm, "read_text") else str(esm)
        return Response(text, media_type="text/javascript")

    async def _css(self, request):
        css = getattr(self.widget, "_css", "")
        text = css.read_text() if hasattr(css, "read_text") else str(css or "")
        return Response(text, media_type="text/css")

    # -- sync ------------------------------------------------------------------------
    @staticmethod
    def _encode(name: str, value):
        if isinstance(value, (bytes, bytearray, memoryview)):
            key = name.encode()
            return struct.pack("<I", len(key)) + key + bytes(value)
        return json.dumps({name: value})

    async def _send(self, ws: WebSocket, msg) -> None:
        if isinstance(msg, bytes):
            await ws.send_bytes(msg)
        else:
            await ws.send_text(msg)

    def _on_change(self, change) -> None:
        msg = self._encode(change["name"], change["new"])
        for ws, loop in list(self._clients):
            asyncio.run_coroutine_threadsafe(self._send(ws, msg), loop)

    async def _ws(self, ws: WebSocket) -> None:
        await ws.accept()
        loop = asyncio.get_running_loop()
        for name in _synced(self.widget):
            await self._send(ws, self._encode(name, getattr(self.widget, name)))
        await ws.send_text(json.dumps({"__ready__": True}))
        self._clients.add((ws, loop))
        try:
            while True:
                update = json.loads(await ws.receive_text())
                await asyncio.to_thread(self._apply, update)
        except WebSocketDisconnect:
            pass
        finally:
            self._clients.discard((ws, loop))

    def _apply(self, update: dict) -> None:
        allowed = set(_synced(self.widget))
        with self.widget.hold_trait_notifications():
            for k, v in update.items():
                if k not in allowed:
                    continue
                try:
                    setattr(self.widget, k, v)
                except traitlets.TraitError:
                    continue

    def stop(self) -> None:
        self.widget.unobserve(self._on_change, names=_synced(self.widget))
        self._server.should_exit = True
        self._thread.join(timeout=10)
