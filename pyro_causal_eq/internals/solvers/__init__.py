"""Fixed-point solvers on a flat batched state ``z`` of shape ``batch + (n,)``.

Forward solvers (:func:`anderson`, :func:`picard`, :func:`newton`) are pure functions of a map
``f`` and a start ``z0``; the implicit backward pass lives in :mod:`.implicit`.
"""

from .anderson import anderson
from .common import ForwardResult, relative_residual
from .jacobian import dense_jacobian
from .newton import newton
from .picard import picard

__all__ = ["ForwardResult", "anderson", "dense_jacobian", "newton", "picard", "relative_residual"]
