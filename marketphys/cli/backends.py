"""``marketphys backends [--selftest]``: list kernel backends, whether they work here, and what
``auto`` picks; ``--selftest`` runs every kernel on every usable shader backend against NumPy."""

from __future__ import annotations


def add_arguments(parser) -> None:
    parser.add_argument("--selftest", action="store_true",
                        help="run every kernel on every usable backend against the NumPy reference; "
                             "prints pass/fail, max error and time per kernel; exit 1 on any failure")
    parser.add_argument("--metalcompute", metavar="MODULE", default=None,
                        help="with --selftest: drive the metal backend through MODULE instead of metalcompute "
                             "(the test suite's stand-in, tests/metalcompute_standin.py)")


def run(args) -> int:
    from marketphys.kernels import available_backends, choose_backend

    for name, ok, why in available_backends():
        print(f"{name:10s} {'ok' if ok else 'unavailable':12s} {why}")
    print(choose_backend()[1])
    if args.metalcompute and not args.selftest:
        print("--metalcompute only applies with --selftest")
        return 2
    if args.selftest:
        from marketphys.kernels import selftest as st

        print()
        return st.selftest(args.metalcompute, out=lambda s: print(s, flush=True), cases=selftest_cases())
    return 0


def selftest_cases() -> list:
    """Every shader's check: the kernels' own, then the renderer's (a layer above the kernels)."""
    from marketphys.kernels.selftest import _cases
    from marketphys.render.selftest import render_case

    return [*_cases(), render_case()]
