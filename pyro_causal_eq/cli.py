"""The ``pyro-causal-eq`` command line.

``pyro-causal-eq tradeoff`` designs GHG / employment trade-off interventions on an
input-output economy (paper Sec. 5, Fig. 3b-c) and writes a netCDF dataset, CSV tables and the
Pareto plot. Without data options it runs on the embedded ``pymrio`` test system (6 regions x 8
sectors; no employment there, so the social indicator is value added).

Subcommands are registered in :data:`SUBCOMMANDS` (name -> (add_arguments, run)); errors in
the input print ``pyro-causal-eq: error: ...`` and return exit code 1 with no output file
written.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from .commands import tradeoff as tradeoff_command

EXIT_ERROR = 1


#: subcommand name -> (add_arguments(parser), run(args) -> exit code, help)
SUBCOMMANDS = {
    "tradeoff": (
        tradeoff_command.add_arguments,
        tradeoff_command.run,
        "GHG / employment trade-off interventions on an input-output economy",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one subparser per entry of :data:`SUBCOMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="pyro-causal-eq",
        description="Soft interventions in cyclic causal models at equilibrium.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (add_arguments, run, help_text) in SUBCOMMANDS.items():
        subparser = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(subparser)
        subparser.set_defaults(_run=run)
    from .commands import register  # reduce, rebound: pyro_causal_eq/commands/

    register(sub)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"pyro-causal-eq: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pyro-causal-eq`` console script; returns the exit code."""
    from .economics.validation import IOTableError
    from .errors import EquilibriumError

    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            return args._run(args)
    except (
        OSError,  # missing files and folders, --out not a folder, permissions, disk full
        KeyError,
        ValueError,
        IOTableError,
        EquilibriumError,
        RuntimeError,
    ) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"pyro-causal-eq: error: {message}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
