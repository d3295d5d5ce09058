"""One error hierarchy: every exception Pledge raises on purpose is a :class:`PledgeError`.

Each module keeps its own precise class (``RequestNotFound``, ``HoldError``,
``KeysMissing``…), and that class derives from one of the few kinds below. The
interfaces map the *kinds*, each in one place: :data:`pledge.web.errors.HTTP_STATUS`
(status code, JSON ``{"detail"}`` for machines, a translated page for browsers) and
:data:`pledge.cli.common.EXIT_CODES` (exit code and an ``error:`` line). A test keeps
every exception class in ``src/pledge`` under this root and both maps complete.

=================  ==============================================  ====  ====
kind               meaning                                         HTTP  exit
=================  ==============================================  ====  ====
InvalidInput       input, a file or a parameter that cannot be     422   2
                   used; the message says what would be valid
NotFound           what was named does not exist                   404   2
Conflict           not possible in the current state               409   1
Forbidden          a proof, link or token that does not hold       403   1
Throttled          refused by a rate limit: try again later        429   1
NotConfigured      the deployment lacks something it needs (keys)  503   2
Unavailable        cannot be done now (schema behind, lock held)   503   1
Failed             an operation that failed part way               500   1
=================  ==============================================  ====  ====

Kinds that used to be built-in errors keep that base too (``InvalidInput`` is a
``ValueError``, ``NotFound`` a ``LookupError``, the last three ``RuntimeError``), so an
``except ValueError`` written before the hierarchy still catches what it caught.
"""

from __future__ import annotations

__all__ = ["KINDS", "Conflict", "Failed", "Forbidden", "InvalidInput", "NotConfigured", "NotFound",
           "PledgeError", "Throttled", "Unavailable", "kind_of"]


class PledgeError(Exception):
    """The root of every error Pledge raises on purpose."""


class InvalidInput(PledgeError, ValueError):
    """Input, a file or a parameter that cannot be used; the message says what would be valid."""


class NotFound(PledgeError, LookupError):
    """What was named (a request, a purpose, a hold) does not exist."""


class Conflict(PledgeError):
    """Not possible in the current state (a request already closed, an extension used)."""


class Forbidden(PledgeError):
    """A proof, link or token that does not hold (a wrong code, a tampered or used link)."""


class Throttled(PledgeError):
    """Refused by a rate limit; try again later."""


class NotConfigured(PledgeError, RuntimeError):
    """The deployment lacks something it needs (its keys); the message says how to add it."""


class Unavailable(PledgeError, RuntimeError):
    """Cannot be done now: the store's schema is behind, a lock or a lease is held elsewhere,
    a table the data map names is missing."""


class Failed(PledgeError, RuntimeError):
    """An operation that failed part way (a task, a transmission, a damaged audit log)."""


#: The kinds, most specific first where one could be read as another.
KINDS: tuple[type[PledgeError], ...] = (InvalidInput, NotFound, Conflict, Forbidden, Throttled, NotConfigured,
                                        Unavailable, Failed)


def kind_of(exc: BaseException) -> type[PledgeError] | None:
    """The first kind in the exception's MRO (so a class that names a kind first is that
    kind), ``PledgeError`` for the root itself, None for anything else."""
    for cls in type(exc).__mro__:
        if cls in KINDS or cls is PledgeError:
            return cls
    return None
