"""``marketphys replay --lake LAKE [--date D] [--backend B] [--theta FILE] [--scorecard OUT.json]
[--export-theta OUT.json] [--log OUT.arrow]``: replay one lake date through the engine and the baselines."""

from __future__ import annotations

import argparse

BACKEND_CHOICES = ("numpy", "msl-cpu", "metal", "auto")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lake", required=True, help="lake directory (built with `marketphys build`)")
    parser.add_argument("--date", default=None, help="date YYYY-MM-DD (default: the newest date with futures data)")
    parser.add_argument("--product", default=None,
                        help="product (default: the one product the lake holds; required when it holds several)")
    parser.add_argument("--backend", default="numpy",
                        help="kernel backend of the engine's rollout: numpy (the reference), msl-cpu, metal or auto "
                             "(the fastest that works here)")
    parser.add_argument("--theta", default=None, help="start from this θ file (its grid, settings and producers)")
    parser.add_argument("--no-learn", action="store_true", help="keep θ fixed (score a frozen θ)")
    parser.add_argument("--scorecard", default=None, help="write the scorecard JSON here")
    parser.add_argument("--export-theta", default=None, help="write the learned θ file here")
    parser.add_argument("--log", default=None, help="write the replay log (Arrow IPC) here")
    parser.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    parser.add_argument("--checkpoint-every", type=int, default=2000, metavar="FRAMES",
                        help="rewrite --scorecard and --export-theta every this many frames (default 2000), "
                             "so a late failure keeps what was done")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from marketphys.cli.errors import CliError
    from marketphys.core.engine import EngineConfig
    from marketphys.pipeline.lake import LakeError
    from marketphys.replay.export import ThetaFileError, export_theta, load_theta
    from marketphys.replay.session import Session
    from marketphys.frames.sources import SourceError
    from marketphys.replay.specs import SpecError

    if args.backend not in BACKEND_CHOICES:
        raise CliError(f"--backend {args.backend!r}: choose one of {', '.join(BACKEND_CHOICES)}")
    if args.max_frames is not None and args.max_frames < 1:
        raise CliError(f"--max-frames must be >= 1, got {args.max_frames}")
    if args.checkpoint_every < 1:
        raise CliError(f"--checkpoint-every must be >= 1, got {args.checkpoint_every}")
    config, theta0, producers = EngineConfig(), None, None
    if args.theta:
        try:
            tf = load_theta(args.theta)
            producers = tf.producers()
        except (ThetaFileError, SpecError) as err:
            raise CliError(f"--theta: {err}") from None
        config, theta0 = tf.config, tf.theta
    if args.no_learn:
        config = dataclasses.replace(config, learn=False)
    config = dataclasses.replace(config, backend=args.backend)
    if args.backend != "numpy":
        from marketphys.kernels import BackendUnavailable, get_backend
        try:
            get_backend(args.backend)
        except (BackendUnavailable, ValueError) as err:
            raise CliError(f"--backend {args.backend}: {err}") from None
    try:
        s = Session.from_lake(args.lake, date=args.date, product=args.product, producers=producers, config=config,
                              theta0=theta0, log=args.log)
    except (SourceError, LakeError) as err:
        raise CliError(str(err)) from None
    with s:
        _run_with_checkpoints(s, args, export_theta)
    if s.n_steps == 0:
        raise CliError(f"no frames in {args.lake} for {s.meta.get('date')}: no window had a valid book")
    card = s.scorecard()
    print(f"replay {s.meta['product']} {s.meta['date']} from {args.lake}: {s.summary()}")
    print(card)
    _write_outputs(s, args, export_theta, card)
    if args.scorecard:
        print(f"scorecard -> {args.scorecard}")
    if args.export_theta:
        print(f"θ -> {args.export_theta}")
    if args.log:
        print(f"replay log -> {args.log} ({s.n_steps} frames)")
    return 0


def _write_outputs(s, args, export_theta, card=None) -> None:
    """Scorecard and θ as they stand (atomic writes: a reader sees the last whole checkpoint)."""
    if not (args.scorecard or args.export_theta) or s.n_steps == 0:
        return
    card = card if card is not None else s.scorecard()
    if args.scorecard:
        card.to_json(args.scorecard)
    if args.export_theta:
        export_theta(args.export_theta, s, scorecard=card)


def _run_with_checkpoints(s, args, export_theta) -> None:
    """Run in blocks of ``--checkpoint-every`` frames, writing scorecard and θ after each block."""
    left = args.max_frames
    while left is None or left > 0:
        block = args.checkpoint_every if left is None else min(args.checkpoint_every, left)
        before = s.n_steps
        s.run(n=block, progress=not args.quiet)
        done = s.n_steps - before
        if left is not None:
            left -= done
        if done < block:
            break                       # the source ended: the final write follows
        _write_outputs(s, args, export_theta)
