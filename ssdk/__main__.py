"""`python -m ssdk` is the `ssdk` command."""

from ssdk.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
