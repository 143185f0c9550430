"""The members the platform knows, in ensemble order: the one place that lists them.

The training YAML's ``models`` and ``members`` keys, Tune's ``--model`` choices, bundle
loading and the Serve member deployments all read this registry, so a new member is a
module that builds a ``MemberSpec`` plus one line in ``BUILTIN``. ``register`` adds one
at run time (an experiment, or the suite's toy member) without editing anything else.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from data.errors import NotFoundError
from training.members import lstm, transformer, xgboost_member
from training.members.spec import MemberSpec

BUILTIN: tuple[MemberSpec, ...] = (
    xgboost_member.SPEC,
    lstm.SPEC,
    transformer.SPEC,
)

_MEMBERS: dict[str, MemberSpec] = {spec.name: spec for spec in BUILTIN}


class UnknownMemberError(NotFoundError):
    """A member name that no spec is registered under."""

    exit_code = 2


def member_names() -> tuple[str, ...]:
    return tuple(_MEMBERS)


def member_specs() -> tuple[MemberSpec, ...]:
    return tuple(_MEMBERS.values())


def get_member(name: str) -> MemberSpec:
    try:
        return _MEMBERS[name]
    except KeyError:
        raise UnknownMemberError(f"unknown member '{name}' (known: {', '.join(_MEMBERS)})") from None


def register(spec: MemberSpec) -> None:
    """Add a member at run time; a name or deployment already taken is refused."""
    if spec.name in _MEMBERS:
        raise ValueError(f"member '{spec.name}' is already registered")
    if any(other.deployment == spec.deployment for other in _MEMBERS.values()):
        raise ValueError(f"Serve deployment '{spec.deployment}' already belongs to another member")
    _MEMBERS[spec.name] = spec


def unregister(name: str) -> None:
    """Remove a member added with ``register`` (built-in members stay)."""
    if any(spec.name == name for spec in BUILTIN):
        raise ValueError(f"member '{name}' is built in")
    _MEMBERS.pop(name, None)


@contextmanager
def registered(spec: MemberSpec) -> Iterator[MemberSpec]:
    """``register`` for the duration of a block."""
    register(spec)
    try:
        yield spec
    finally:
        unregister(spec.name)
