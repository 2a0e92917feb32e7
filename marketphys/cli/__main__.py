"""``python -m marketphys.cli ...``: the same command line as the ``marketphys`` script."""

import sys

if __name__ == "__main__":
    try:
        from marketphys.cli import main
    except KeyboardInterrupt:                 # Ctrl-C while the package imports
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(main())
