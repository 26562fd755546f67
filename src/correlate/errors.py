"""Every error correlate raises on purpose, under one root, so a caller can catch "correlate said no" in one clause.

    CorrelateError                  the root: the message is one line for the user, never a traceback
    ├── ContractError               a record (or one field of it) breaks its contract: .field, .reason
    ├── ConfigError (ValueError)    a settings file, variable or flag that cannot be used
    │   └── LogChoiceError          a log level or format that is not a known name
    ├── AccessError (ValueError)    a token that cannot be used (the message never contains the token)
    ├── StoreError                  a request the incident store refuses
    │   ├── InvalidRequest          what was asked cannot be answered as asked (arguments missing, too many)
    │   ├── NotFound                no such incident, or no such accepted contact
    │   ├── Mismatch                the request's parts disagree (a contact of another customer)
    │   └── StateConflict           the incident's state forbids it (resolved; no owner to report back to)
    ├── ApiError                    the HTTP API's own refusal, with the HTTP status it answers with
    ├── EmbeddedServerError         a server correlate starts itself (Tansu, Redis) is missing or did not come up
    ├── BrokerGone                  the Kafka broker does not answer (never did, or stopped)
    ├── MissingExtra                a command needs an extra that is not installed (the message names it)
    └── InjectedFault (RuntimeError) a test hook's stand-in for a bug that one record sets off

Errors of the libraries correlate stands on are converted where they enter, and only there: TOML, JSON and
file errors of a settings file in :mod:`correlate.config`, Kafka errors in :mod:`correlate.streams.client`.
Redis errors are left as they are: the API answers every one of them alike (503, try again) and the feed
stops on them, so a wrapper would add a name and no meaning.

``ConfigError`` and ``AccessError`` keep ``ValueError`` as a second base: both were public as ``ValueError``
(``load_config`` and ``verify`` callers may catch that), and :func:`correlate.api.access.verify` relies on it to
report a :class:`correlate.api.access.Claims` that refuses its values as unreadable claims. ``InjectedFault`` keeps
``RuntimeError`` so that it reads as the unforeseen failure it stands in for.

A store error carries no HTTP status: the store does not speak HTTP. :mod:`correlate.api.app` maps each kind to
its status.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "AccessError",
    "ApiError",
    "BrokerGone",
    "ConfigError",
    "ContractError",
    "CorrelateError",
    "EmbeddedServerError",
    "InjectedFault",
    "InvalidRequest",
    "LogChoiceError",
    "Mismatch",
    "MissingExtra",
    "NotFound",
    "StateConflict",
    "StoreError",
]


class CorrelateError(Exception):
    """Anything correlate refuses or cannot do, said in one line that names the thing and why."""


class ContractError(CorrelateError):
    """A record breaks its contract: ``field`` names the offending field ('' for the record as a whole) and
    ``reason`` says what is wrong with it, in words for the person who wrote the record."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason


class ConfigError(CorrelateError, ValueError):
    """A settings file or variable that cannot be used; the message says which and why."""


class LogChoiceError(ConfigError):
    """A level or format that is not one of the known names; the message lists them."""


class AccessError(CorrelateError, ValueError):
    """A token that cannot be used; the message says why, and never contains the token."""


class StoreError(CorrelateError):
    """A request the incident store refuses; the kind says why, the message says what."""


class InvalidRequest(StoreError):
    """The request cannot be answered as asked: a required argument is missing, or it asks for too much."""


class NotFound(StoreError):
    """The incident, or the accepted contact, the request names is not in the store."""


class Mismatch(StoreError):
    """The request's parts disagree with each other (a contact that belongs to another customer)."""


class StateConflict(StoreError):
    """The incident's state forbids the request (it is resolved, or has no owner to report back to)."""


class ApiError(CorrelateError):
    """A refusal with its HTTP status and a reason the caller can act on (the API answers it as JSON)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class EmbeddedServerError(CorrelateError):
    """An embedded server could not be found or did not come up; the message says which and why."""


class BrokerGone(CorrelateError):
    """The broker does not answer (never did, or stopped): the message is one line for the user."""


class InjectedFault(CorrelateError, RuntimeError):
    """Raised by :class:`correlate.streams.poison.FaultInjector`: a stand-in for a bug that a particular record
    sets off."""


class MissingExtra(CorrelateError):
    """A command needs extras that are not installed; the message is the line to print."""

    def __init__(self, command: str, extras: Iterable[str]) -> None:
        self.command = command
        self.extras = tuple(extras)
        quoted = [f"'{extra}'" for extra in self.extras]
        names = " and ".join([", ".join(quoted[:-1]), quoted[-1]] if len(quoted) > 1 else quoted)
        plural = "extras" if len(self.extras) > 1 else "extra"
        super().__init__(
            f"correlate {command} needs the {names} {plural}: pip install 'correlate[{','.join(self.extras)}]'"
        )
