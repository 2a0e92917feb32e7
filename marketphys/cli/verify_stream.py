"""``marketphys verify-stream``: check a running stream's framing and contracts; non-zero exit on any violation."""

from __future__ import annotations

from marketphys.cli.errors import CliError
from marketphys.serving import protocol as P


def add_arguments(p) -> None:
    p.add_argument("--url", required=True, help=f"ws://HOST:PORT{P.PATH}")
    p.add_argument("--surfaces", default=None, help="also check a gated connection asking for these (comma-separated)")
    p.add_argument("--batches", type=int, default=40, help="batches to check per connection (default 40)")
    p.add_argument("--date", default=None, help="lake date to replay (default: the server's newest)")
    p.add_argument("--speed", default="max", help="replay speed to request (default max)")
    p.add_argument("--token", default=None, help="token when the server requires one")


def run(args) -> int:
    from marketphys.serving.client import StreamError
    from marketphys.serving.verify import verify

    if args.batches < 1:
        raise CliError(f"--batches must be >= 1, got {args.batches}")
    surfaces = None
    if args.surfaces is not None:
        surfaces = [s.strip() for s in args.surfaces.split(",") if s.strip()]
        if not surfaces:
            raise CliError(f"--surfaces: no surface names in {args.surfaces!r}")
    try:
        reports = verify(args.url, surfaces, args.batches, token=args.token, date=args.date, speed=args.speed)
    except StreamError as err:
        raise CliError(str(err)) from None
    failed = 0
    for rep in reports:
        name = "default" if rep.requested is None else "gated " + ",".join(rep.requested)
        status = "OK" if rep.ok else f"FAIL ({len(rep.violations)} violations)"
        print(f"{name}: {rep.batches} batches, surfaces seen {P.canonical_order(rep.surfaces_seen)}: {status}")
        for v in rep.violations[:20]:
            print(f"  - {v}")
        failed += not rep.ok
    return 1 if failed else 0
