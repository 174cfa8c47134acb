"""Guard that keeps structural assignments deterministic while an equilibrium is solved."""

from __future__ import annotations

from pyro.poutine.messenger import Messenger


class ForbidSampling(Messenger):
    """Raise a clear error when a mechanism calls ``pyro.sample`` (or ``pyro.deterministic``).

    Mechanisms are evaluated many times per solve, so a sample site inside one would be drawn
    anew at every iteration and the "equilibrium" would not be a fixed point.
    """

    def __init__(self, system: str):
        super().__init__()
        self.system = system

    def _pyro_sample(self, msg) -> None:
        raise ValueError(
            f"a mechanism of equilibrate({self.system!r}) calls pyro.sample({msg['name']!r}): "
            "mechanisms must be deterministic; sample outside the mechanisms and use the value "
            "in a closure (pyro.deterministic sites also belong outside)"
        )
