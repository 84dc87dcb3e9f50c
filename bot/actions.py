"""Actions a person triggers by a button, a key on a call, or a short SMS reply, by name.

A feature registers what its buttons mean ("take:<id>", "wake:<id>", ...) and what replies it consumes
(a youth's "ok" after a wake-up); the edges (Telegram callbacks, Twilio gathers, SMS) only pass the
data through, so they never need to know the features.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import Session

from bot.events import Incoming
from bot.i18n import Lang
from bot.service import Service
from models.people import Person

# (service, session, person, value) -> the short answer to show the person, or None
Action = Callable[[Service, Session, Person, str], str | None]
# (service, session, person, incoming) -> True if the message was consumed and must not be relayed
ReplyHook = Callable[[Service, Session, Person, Incoming], bool]

_actions: dict[str, Action] = {}
_reply_hooks: list[ReplyHook] = []


def action(name: str) -> Callable[[Action], Action]:
    """Register the function behind "<name>:<value>" buttons and keys."""

    def register(fn: Action) -> Action:
        _actions[name] = fn
        return fn

    return register


def reply_hook(fn: ReplyHook) -> ReplyHook:
    """Register a function that may consume a youth's or parent's message before it is relayed."""
    if fn not in _reply_hooks:
        _reply_hooks.append(fn)
    return fn


def perform(service: Service, session: Session, person: Person, data: str) -> str:
    """Do what a button names; every press gets an answer, also one the service cannot act on."""
    name, _, value = data.partition(":")
    fn = _actions.get(name)
    answer = fn(service, session, person, value) if fn else None
    return answer if answer is not None else no_action(service, person.language)


def no_action(service: Service, language: str | None) -> str:
    """The answer to a press that does nothing: an old button, someone else's, or forged data."""
    return Lang(language, service.settings.tz)._("Denne knappen gjelder ikke lenger, eller ikke for deg.")


def consumed(service: Service, session: Session, person: Person, inc: Incoming) -> bool:
    return any(hook(service, session, person, inc) for hook in _reply_hooks)
