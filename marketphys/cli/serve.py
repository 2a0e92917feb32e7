"""``marketphys serve``: stream a lake's surfaces over WebSocket (loopback unless given a token)."""

from __future__ import annotations

from marketphys.cli.errors import CliError


def add_arguments(p) -> None:
    p.add_argument("--lake", required=True, help="lake directory written by `marketphys build`")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1; anything else needs a token)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    p.add_argument("--token", default=None, help="shared secret every connection must present (?token= or Bearer); "
                   "visible in `ps`: prefer --token-file or $MARKETPHYS_SERVE_TOKEN")
    p.add_argument("--token-file", default=None, help="file holding the token (first line, whitespace stripped)")
    p.add_argument("--speed", default="1", help="default replay pace: 1 (real time), 10x, max (clients may override)")
    p.add_argument("--product", default=None, help="lake product (default: the one product the lake holds)")
    p.add_argument("--queue-batches", type=int, default=32, help="per-client queue bound in whole batches")
    p.add_argument("--queue-mb", type=float, default=8.0, help="per-client queue bound in MB (one batch always fits)")
    p.add_argument("--max-clients", type=int, default=256, help="open streams allowed; more are refused with 503")
    p.add_argument("--share-join-s", type=float, default=0.25,
                   help="paced replay: seconds a new stream waits so clients asking for the same one share it")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])


def run(args) -> int:
    import asyncio

    from marketphys.pipeline.lake import LakeError, resolve_product
    from marketphys.serving.protocol import PATH, ProtocolError, parse_speed
    from marketphys.serving.server import (ServeConfig, ServeError, bind_socket, create_app, resolve_token,
                                           uvicorn_server)

    try:
        token = resolve_token(args.token, args.token_file)
        product = resolve_product(args.lake, args.product) if args.product is None and _has_snaps(args.lake) \
            else (args.product or "ES")
        cfg = ServeConfig(lake=args.lake, host=args.host, port=args.port, token=token,
                          speed=parse_speed(args.speed), product=product, queue_batches=args.queue_batches,
                          queue_bytes=max(1, int(args.queue_mb * (1 << 20))), max_clients=args.max_clients,
                          share_join_s=args.share_join_s)
        app = create_app(cfg)
        sock = bind_socket(cfg.host, cfg.port)
    except (ServeError, ProtocolError, LakeError) as err:
        raise CliError(str(err)) from None
    port = sock.getsockname()[1]
    cat = app.state.catalog
    print(f"serving {cfg.lake} ({len(cat.all_dates())} dates, surfaces {cat.surfaces()}) "
          f"at ws://{cfg.host}:{port}{PATH}{' (token required)' if cfg.token else ''}", flush=True)
    server = uvicorn_server(app, args.log_level)
    try:
        asyncio.run(server.serve(sockets=[sock]))
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


def _has_snaps(lake) -> bool:
    """A lake with futures snaps names its product; an empty or missing one keeps the old default (the
    server then says what is missing)."""
    from marketphys.pipeline.lake import products_with
    try:
        return bool(products_with(lake, "silver.future_mbo.snap"))
    except OSError:
        return False
