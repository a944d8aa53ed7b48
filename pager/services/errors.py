"""Domain errors raised by services; the HTTP layer and the CLI map them in one place each."""

from __future__ import annotations


class DomainError(Exception):
    """Base: a request that cannot be carried out, with a message fit for the person who asked."""


class NotFound(DomainError):
    """The thing asked for does not exist (unknown alert, user, service, schedule...)."""


class Conflict(DomainError):
    """The request clashes with what is stored (a handle that is taken...)."""


class InvalidInput(DomainError):
    """The request is malformed or breaks a rule (end before start, unknown role...)."""


class Forbidden(DomainError):
    """The caller's token may not do this to this thing (a responder editing someone else)."""


class TooMany(DomainError):
    """The request would go over a limit that protects someone (codes sent to one person a day...)."""


class Unavailable(DomainError):
    """The answer cannot be had right now (a dependency is slow or down); retrying later may work."""
