"""Errors raised by geomrelax.

Every refusal is a subclass of ``ValueError`` (so ``except ValueError`` keeps working) and its
message names what is wrong and, where there is one, the offending value or point.
"""


class GeomrelaxError(ValueError):
    """Base class of every refusal raised by geomrelax."""


class InvalidRegularizerError(GeomrelaxError):
    """A regularizer that cannot be used as asked (not convex, domain without 0, bad expression)."""


class NotConvexError(InvalidRegularizerError):
    """v is not convex on its domain; ``point`` is a witness with v''(point) < 0."""

    def __init__(self, message, point=None, curvature=None):
        super().__init__(message)
        self.point = point
        self.curvature = curvature

    def payload(self) -> dict:
        """The witness as plain data (it travels back from a worker process with the message)."""
        return {"point": self.point, "curvature": self.curvature}


class NotStronglyConvexError(InvalidRegularizerError):
    """v is convex but not strongly convex: usable as a hard LMO, not as a relaxed one."""


class DomainError(InvalidRegularizerError):
    """The domain is empty, malformed or does not contain 0."""


class InvalidTemperatureError(GeomrelaxError):
    """tau is <= 0, NaN or not a real number."""


class InvalidHyperparameterError(GeomrelaxError):
    """An optimizer option outside its valid range (the message names the option and the value)."""


class NonFiniteError(GeomrelaxError, FloatingPointError):
    """A NaN or infinity where a finite number is required (gradient, momentum, input)."""


class SolverError(GeomrelaxError, RuntimeError):
    """A convex solver failed or returned an inaccurate solution; ``status`` holds its status."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status
