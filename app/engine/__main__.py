"""``python -m app.engine validate|test [PATH...]``: the policy checks without Flask."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.engine")
    parser.add_argument("command", choices=["validate", "test"])
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--schemas", type=Path, default=Path("schemas"))
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    paths = args.paths or [Path("rulesets")]
    if args.command == "validate":
        ok, _ = checks.validate(paths, args.schemas, print)
    else:
        ok = checks.test(paths, args.schemas, print, verbose=args.verbose)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
