"""Consent (opplæringslova: the youth, and the guardians of a minor), and the rights information shown at linking."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Session, select

from bot.contactlog import record
from bot.errors import InputError
from bot.i18n import Lang
from bot.settings import Settings
from models.people import Person, Role, get_person
from models.programme import Consent

SCOPES = ("contact", "wakeup", "parents", "sms")
GIVERS = ("youth", "guardian")
HOW = ("signed", "digital", "verbal")


# What a worker may write on Telegram for a scope (the CLI's names work too).
ALIASES = {"kontakt": "contact", "vekking": "wakeup", "foresatte": "parents", "føresette": "parents",
           "foreldre": "parents"}


def scopes_of(value: str) -> list[str]:
    """`contact,wakeup` as a list; an unknown scope is refused naming the field."""
    scopes = [s.strip().lower() for s in (value or "").split(",") if s.strip()]
    scopes = [ALIASES.get(s, s) for s in scopes]
    if not scopes:
        raise InputError("scope", f"give one or more of {', '.join(SCOPES)}")
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise InputError("scope", f"{unknown[0]!r} is not a scope (one of {', '.join(SCOPES)})")
    return list(dict.fromkeys(scopes))


def _youth(session: Session, youth_id: int) -> Person:
    youth = get_person(session, person_id=youth_id)
    if youth is None or youth.role != Role.youth:
        raise InputError("youth", f"there is no youth with id {youth_id}")
    return youth


def record_consent(session: Session, settings: Settings, *, youth_id: int, scope: str, now: datetime,
                   given_by: str = "youth", parent_id: int | None = None, how: str | None = None,
                   on: date | None = None, by: Person | None = None) -> list[Consent]:
    """Record a consent for each scope; each is a log entry."""
    youth = _youth(session, youth_id)
    scopes = scopes_of(scope)
    if given_by not in GIVERS:
        raise InputError("by", f"{given_by!r} is not youth or guardian")
    if how is not None and how not in HOW:
        raise InputError("how", f"{how!r} is not one of {', '.join(HOW)}")
    if parent_id is not None:
        parent = get_person(session, person_id=parent_id)
        if parent is None or parent.role != Role.parent or parent.youth_id != youth.id:
            raise InputError("parent", f"there is no parent with id {parent_id} of youth {youth.id}")
    return _write(session, settings, youth, scopes, True, now, given_by, parent_id, how, on, by)


def withdraw(session: Session, settings: Settings, *, youth_id: int, scope: str, now: datetime,
             by: Person | None = None) -> list[Consent]:
    youth = _youth(session, youth_id)
    return _write(session, settings, youth, scopes_of(scope), False, now, None, None, None, None, by)


def _write(session: Session, settings: Settings, youth: Person, scopes: list[str], granted: bool, now: datetime,
           given_by: str | None, parent_id: int | None, how: str | None, on: date | None,
           by: Person | None) -> list[Consent]:
    day = on or now.astimezone(settings.tz).date()
    rows = [Consent(youth_id=youth.id, scope=s, granted=granted, given_by=given_by, parent_id=parent_id, how=how,
                    on=day, recorded_at=now) for s in scopes]
    session.add_all(rows)
    session.flush()
    N = Lang("nb", settings.tz)
    text = (N._("Samtykke registrert ({scopes}), gitt av {who} {day}", scopes=", ".join(scopes),
                who=N._("foresatt") if given_by == "guardian" else N._("ungdommen"), day=day.isoformat())
            if granted else N._("Samtykke trukket tilbake ({scopes})", scopes=", ".join(scopes)))
    record(session, settings, at=now, youth_id=youth.id, party="worker" if by else "system",
           worker_id=by.id if by else None, channel="manual", direction="none", kind="consent", text=text)
    return rows


def current(session: Session, youth_id: int) -> dict[str, Consent]:
    """The latest record per scope that is given (withdrawn scopes are left out)."""
    latest: dict[str, Consent] = {}
    for row in session.exec(select(Consent).where(Consent.youth_id == youth_id).order_by(Consent.id)):
        latest[row.scope] = row
    return {scope: row for scope, row in latest.items() if row.granted}


def parents_told(session: Session, youth_id: int) -> bool:
    """Parents hear about wake-ups, meetings and activities only with the `parents` consent."""
    return "parents" in current(session, youth_id)


def rights_information(L: Lang, person: Person) -> str:
    """The written information the law asks for, in the person's language, shown when they link."""
    if person.role == Role.parent:
        who = L._("Du får denne informasjonen fordi du er foresatt til en ungdom som følges opp av "
                  "oppfølgingstjenesten.")
    else:
        who = L._("Du får denne informasjonen fordi du følges opp av oppfølgingstjenesten.")
    return "\n\n".join((who, L._(
        "Om personvern og rettighetene dine:\n"
        "• Meldingene dine leses av kontaktpersonen din og en reservekontaktperson i oppfølgingstjenesten.\n"
        "• Hver kontakt føres i en kontaktlogg (når, hvordan og kort hva). Teksten i meldingene slettes etter "
        "en tid; loggen oppbevares så lenge oppfølgingen varer og det loven krever.\n"
        "• Det er frivillig å bruke Tett på, og du kan når som helst trekke samtykket tilbake ved å si fra til "
        "kontaktpersonen din.\n"
        "• Du har rett til innsyn i, retting av og sletting av opplysningene om deg, og du kan klage til "
        "Datatilsynet."
    )))


# `trekk` (nb/nn) or `withdraw` first: the scopes are withdrawn, not given.
WITHDRAW_WORDS = ("trekk", "withdraw")


def from_telegram(service, session: Session, worker: Person, inc, args: str) -> None:
    """`/samtykke [trekk] SCOPES` in reply to a relayed message, or `/samtykke [trekk] NAME SCOPES`: the worker
    records what the youth consented to (given by the youth, verbally unless a form says otherwise)."""
    from bot import notes
    from bot.relay import lang, reply

    L = lang(service, worker)
    words = args.strip()
    lead, _, tail = words.partition(" ")
    withdrawing = lead.casefold() in WITHDRAW_WORDS
    words = tail if withdrawing else words
    youth = notes._youth_of_reply(session, worker, inc)
    scopes = words
    if youth is None:
        youth, scopes, _problem = notes.find_youth(session, worker, words)
    try:
        if youth is None:
            raise InputError("youth", "no youth")
        if withdrawing:
            withdraw(session, service.settings, youth_id=youth.id, scope=scopes.replace(" ", ","), now=service.now(),
                     by=worker)
        else:
            record_consent(session, service.settings, youth_id=youth.id, scope=scopes.replace(" ", ","),
                           now=service.now(), how="verbal", by=worker)
    except InputError:
        reply(service, session, inc, L._(
            "Slik registrerer du samtykke: svar på en videresendt melding med «/samtykke contact,wakeup,parents,sms», "
            "eller skriv navnet: «/samtykke Ola Berg contact». «/samtykke trekk parents» trekker det tilbake."))
        return
    reply(service, session, inc, L._("Samtykket er registrert for {name}.", name=youth.name))
    service.kick_outbox()
