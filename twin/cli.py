"""The ``twin`` command.

Each group of subcommands lives in a module of :mod:`twin.commands` exposing
``register(subparsers)``. Modules import their heavy dependencies inside the command
functions so that ``twin --help`` stays fast. A :class:`~twin.errors.TwinError` becomes one
line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from twin import __version__
from twin.errors import TwinError

#: Modules that add subcommands, in the order they appear in ``twin --help``.
COMMAND_MODULES = (
    "twin.commands.geodata",
    "twin.commands.sensors",
    "twin.commands.serve",
)

log = logging.getLogger("twin")


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with all subcommands.

    Returns
    -------
    argparse.ArgumentParser
        The parser; each subparser sets ``func`` (a callable taking the parsed namespace and
        returning an exit code) and ``accepts_extra`` (whether unknown flags are passed on,
        as trame's own flags are for ``serve`` and ``demo``).
    """
    parser = argparse.ArgumentParser(
        prog="twin",
        description="twin: a 3D digital twin of Ludwigshafen am Rhein.",
    )
    parser.add_argument("--version", action="version", version=f"twin {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output: -v progress, -vv debug"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:
                raise
            continue
        module.register(sub)
    return parser


def _setup_logging(verbose: int, quiet: bool) -> None:
    # Quiet by default: a failing command prints one error line, not a page of log records.
    levels = {0: logging.WARNING, 1: logging.INFO}
    level = logging.ERROR if quiet else levels.get(verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``twin`` command.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; ``sys.argv[1:]`` by default.

    Returns
    -------
    int
        The exit code: 0 on success, 2 on bad input, 130 when interrupted.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "accepts_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    _setup_logging(args.verbose, args.quiet)
    try:
        return int(args.func(args) or 0)
    except TwinError as err:
        print(f"twin: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("twin: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output left early (`twin info CITY | head`): no traceback, and
        # none at exit either when Python flushes stdout again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell reports it


if __name__ == "__main__":
    raise SystemExit(main())
