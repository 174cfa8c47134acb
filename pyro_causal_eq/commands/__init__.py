"""Subcommands of the ``pyro-causal-eq`` command, one module each.

``tradeoff`` (with :mod:`.tradeoff_sweep`) is registered in :data:`pyro_causal_eq.cli.SUBCOMMANDS`;
the others through :func:`register`.

Each module exposes ``add_parser(subparsers)`` (registers the subcommand, its ``--help`` with
examples, and ``run`` as its action) and ``run(args) -> exit code``. Modules import the
package's heavy parts inside ``run`` only, so ``pyro-causal-eq --help`` stays fast.

- :mod:`.tradeoff`: the GHG / employment trade-off of an input-output economy;
- :mod:`.reduce`: targeted causal reduction of a built-in simulator;
- :mod:`.rebound`: the invariant intervention of the price-rebound model.
"""

from . import rebound, reduce

COMMANDS = (reduce, rebound)


def register(subparsers) -> None:
    """Add every subcommand of :data:`COMMANDS` to an argparse ``subparsers`` object."""
    for command in COMMANDS:
        command.add_parser(subparsers)


__all__ = ["COMMANDS", "register"]
