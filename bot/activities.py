"""Group activities: invitations on each youth's channel, answers (buttons or JA/NEI/KANSKJE), cancel and move.

Each youth gets their own invitation, naming nobody else. Sends to many go in the outbox's bulk lane, so a
relay queued meanwhile is never held up. The workers hear the answers together (a digest row swept by the
scheduler, `scheduling/activities.py`), not one message per answer.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlmodel import Session, select

from bot import consent, period, texts, units
from bot.actions import action
from bot.contactlog import record
from bot.errors import InputError
from bot.events import Incoming
from bot.i18n import Lang
from bot.out.outbox import address_of, send_text
from bot.out.transports.base import Button
from bot.relay import lang
from bot.service import Service
from models.activities import ANSWERS, CANCELLED, MAYBE, NO, SCHEDULED, YES, Activity, ActivityInvite
from models.outbox import PENDING as OUTBOX_PENDING
from models.outbox import Outbox
from models.people import Person, Role, get_person, parents_of, youths_of

REMIND_BEFORE = timedelta(days=1)
# Answers that come within this long of the first are told to the worker in one message.
DIGEST_AFTER = timedelta(seconds=60)
# Telegram allows about 30 messages a second to different chats: bulk rows are spaced below that.
BULK_GAP = timedelta(seconds=1 / 25)
MAX_TITLE = 200


# -- who is invited -------------------------------------------------------------------------------


def _ids(value: str, field: str) -> list[int]:
    ids = []
    for part in value.split(","):
        part = part.strip()
        if not part.isdigit():
            raise InputError(field, f"{part!r} is not a youth id (give ids separated by commas, or all)")
        ids.append(int(part))
    return ids


def chosen_youths(session: Session, service: Service, *, unit_id: int | None = None, worker_id: int | None = None,
                  youths: str | None = None) -> list[Person]:
    """The youths a unit, a worker's youths or a list (or `all`) names; those whose period is over are left out."""
    query = select(Person).where(Person.role == Role.youth).order_by(Person.id)
    if youths is not None and youths.strip().lower() != "all":
        wanted = _ids(youths, "youths")
        found = {p.id: p for p in session.exec(query.where(Person.id.in_(wanted)))}
        missing = [i for i in wanted if i not in found]
        if missing:
            raise InputError("youths", f"there is no youth with id {missing[0]}")
        people = [found[i] for i in dict.fromkeys(wanted)]
    elif worker_id is not None:
        worker = get_person(session, person_id=worker_id)
        if worker is None or not worker.is_staff:
            raise InputError("worker", f"there is no worker with id {worker_id}")
        people = youths_of(session, worker_id=worker_id)
    else:
        people = list(session.exec(query))
    if unit_id is not None:
        members = units.member_ids(session, units.get_unit(session, unit_id).id)
        people = [p for p in people if p.id in members]
    now = service.now()
    return [p for p in people if not period.is_over(session, service, p.id, now)]


def clean(value: str | None, field: str) -> str:
    value = " ".join((value or "").split())
    if not value or len(value) > MAX_TITLE:
        raise InputError(field, f"give a {field} of 1 to {MAX_TITLE} characters")
    return value


# -- sending to many ------------------------------------------------------------------------------


def bulk(session: Session, row: Outbox | None, now: datetime) -> None:
    """Put a queued send (and its SMS parts) in the bulk lane; Telegram ones spaced under Telegram's 30/s."""
    if row is None:
        return
    rows = [row] + list(session.exec(select(Outbox).where(Outbox.key.like(f"{row.key}:%"))))
    due = now
    if row.channel == "telegram":
        last = session.exec(select(Outbox.due_at).where(
            Outbox.status == OUTBOX_PENDING, Outbox.bulk.is_(True), Outbox.channel == "telegram",
            Outbox.attempts == 0,
        ).order_by(Outbox.due_at.desc()).limit(1)).first()
        due = max(now, last + BULK_GAP) if last is not None else now
    for r in rows:
        r.bulk, r.due_at = True, due


def answer_buttons(L: Lang, activity: Activity) -> tuple[tuple[Button, ...], ...]:
    return ((Button(L._("Ja"), f"act:{activity.id}:{YES}"), Button(L._("Nei"), f"act:{activity.id}:{NO}"),
             Button(L._("Kanskje"), f"act:{activity.id}:{MAYBE}")),)


def _sms_hint(L: Lang) -> str:
    return L._("Svar JA, NEI eller KANSKJE.")


def texts_values(L: Lang, activity: Activity, person: Person, now: datetime) -> dict:
    return {"name": texts.first_name(person.name), "title": activity.title, "when": L.when(activity.at, now),
            "place": activity.place}


def send_one(service: Service, session: Session, *, key: str, person: Person, text: str, now: datetime,
          activity: Activity | None = None) -> str | None:
    """Queue one bulk send; with `activity`, the answer buttons (Telegram) or the words to answer (SMS).
    The channel it went on, or None when the person cannot be reached."""
    target = address_of(person)
    if target is None:
        return None
    channel = target[0]
    L = lang(service, person)
    if activity is not None and channel == "sms":
        text = f"{text}\n{_sms_hint(L)}"
    row = send_text(session, key=key, person=person, now=now, channel=channel, text=text,
                    buttons=answer_buttons(L, activity) if activity is not None and channel == "telegram" else ())
    bulk(session, row, now)
    return channel


def parents_copied(session: Session, youth: Person, now: datetime, service: Service) -> list[Person]:
    """A minor's parents hear of activities only with the `parents` consent."""
    if not period.is_minor(youth, now.astimezone(service.settings.tz).date()):
        return []
    return parents_of(session, youth_id=youth.id) if consent.parents_told(session, youth.id) else []


def log(service: Service, session: Session, activity: Activity, youth: Person, *, channel: str, direction: str,
        text: str, party: str = "system") -> None:
    record(session, service.settings, at=service.now(), youth_id=youth.id, party=party, worker_id=youth.primary_id,
           channel=channel, direction=direction, kind="activity", text=text)


def log_when(service: Service, activity: Activity) -> str:
    N = Lang("nb", service.settings.tz)
    return N._("{day} kl. {time}", day=N.date(activity.at), time=N.time(activity.at))


# -- making one -----------------------------------------------------------------------------------


def add_activity(session: Session, service: Service, *, title: str, at: datetime, place: str,
                 unit_id: int | None = None, worker_id: int | None = None, youths: str | None = None,
                 respond_by: datetime | None = None, created_by: int | None = None) -> tuple[Activity, int]:
    """Make the activity and invite each chosen youth (and, with consent, a minor's parents); (activity, invited)."""
    now = service.now()
    title, place = clean(title, "title"), clean(place, "place")
    if at.tzinfo is None:
        raise InputError("at", "give the time with a date, e.g. 2026-12-10T17:00")
    if at <= now:
        raise InputError("at", f"{at.astimezone(service.settings.tz).isoformat(timespec='minutes')} has passed")
    if respond_by is not None and not now < respond_by <= at:
        raise InputError("respond-by", "give a time between now and the activity")
    people = chosen_youths(session, service, unit_id=unit_id, worker_id=worker_id, youths=youths)
    if not people:
        raise InputError("youths", "nobody to invite (no youth whose follow-up period is running)")
    activity = Activity(title=title, at=at, place=place, unit_id=unit_id, created_by=created_by,
                        respond_by=respond_by, created_at=now, updated_at=now,
                        remind_at=at - REMIND_BEFORE if at - REMIND_BEFORE > now else None, nudge_at=respond_by)
    session.add(activity)
    session.flush()
    N = Lang("nb", service.settings.tz)
    for youth in people:
        session.add(ActivityInvite(activity_id=activity.id, youth_id=youth.id))
        _invite(service, session, activity, youth, now, N)
    session.flush()
    service.kick_outbox()
    return activity, len(people)


def _invite(service: Service, session: Session, activity: Activity, youth: Person, now: datetime, N: Lang) -> None:
    L = lang(service, youth)
    text = L._("Hei {name}! Du er invitert til {title} {when}, {place}.", **texts_values(L, activity, youth, now))
    if activity.respond_by is not None:
        text += " " + L._("Svar innen {deadline}.", deadline=L.when(activity.respond_by, now))
    channel = send_one(service, session, key=f"actinv:{activity.id}:{youth.id}", person=youth, text=text, now=now,
                    activity=activity)
    log(service, session, activity, youth, channel=channel or "none", direction="out" if channel else "none",
        text=N._("Aktivitet {title} {when}, {place}: invitasjon sendt til {name}", title=activity.title,
                 when=log_when(service, activity), place=activity.place, name=youth.name) if channel else
        N._("Aktivitet {title} {when}: {name} kunne ikke nås", title=activity.title,
            when=log_when(service, activity), name=youth.name))
    for parent in parents_copied(session, youth, now, service):
        P = lang(service, parent)
        send_one(service, session, key=f"actinv:{activity.id}:{youth.id}:p{parent.id}", person=parent, now=now,
              text=P._("Hei {name}! {youth} er invitert til {title} {when}, {place}.",
                       youth=texts.first_name(youth.name), **texts_values(P, activity, parent, now)))


# -- answers ---------------------------------------------------------------------------------------


def answer_word(L: Lang, answer: str) -> str:
    return {YES: L._("ja"), NO: L._("nei"), MAYBE: L._("kanskje")}[answer]


def answer(service: Service, session: Session, activity: Activity, invite: ActivityInvite, youth: Person,
           said: str, channel: str, source: str | None = None) -> str:
    """The youth answered: record it, queue it for the workers' digest, and say so back."""
    now = service.now()
    L = lang(service, youth)
    if activity.status != SCHEDULED or now >= activity.at:
        return L._("Denne aktiviteten er ikke aktuell lenger.")
    reply = L._("Takk! Du har svart {answer} på {title} {when}.", answer=answer_word(L, said), title=activity.title,
                when=L.when(activity.at, now))
    if invite.answer == said:
        return reply  # the same answer again: nothing new to tell
    invite.answer, invite.answered_at, invite.answer_source, invite.told = said, now, source, False
    activity.digest_at = activity.digest_at or now + DIGEST_AFTER
    N = Lang("nb", service.settings.tz)
    log(service, session, activity, youth, channel=channel, direction="in", party="youth",
        text=N._("Aktivitet {title} {when}: {name} svarte {answer}", title=activity.title,
                 when=log_when(service, activity), name=youth.name, answer=answer_word(N, said)))
    return reply


def _invite_of(session: Session, activity_id: int, youth_id: int) -> ActivityInvite | None:
    return session.exec(select(ActivityInvite).where(
        ActivityInvite.activity_id == activity_id, ActivityInvite.youth_id == youth_id)).first()


@action("act")
def activity_action(service: Service, session: Session, person: Person, value: str) -> str | None:
    """The youth's buttons under an invitation: "act:7:yes", "act:7:no", "act:7:maybe"."""
    activity_id, _, said = value.partition(":")
    activity = session.get(Activity, int(activity_id)) if activity_id.isdigit() else None
    invite = _invite_of(session, activity.id, person.id) if activity is not None else None
    if invite is None or said not in ANSWERS:
        return None
    before = invite.answer
    reply = answer(service, session, activity, invite, person, said, "telegram")
    if invite.answer != before:
        # The press's own answer is a toast that vanishes: a new answer also stays in the chat.
        send_text(session, key=f"actok:{activity.id}:{person.id}:{said}:{service.now().isoformat()}",
                  person=person, text=reply, now=service.now(), channel="telegram")
    service.kick_outbox()
    return reply


YES_WORDS = {"ja", "jo", "yes", "y", "kommer", "jeg kommer", "eg kjem", "kjem", "так", "tak", "haa", "نعم", "👍"}
NO_WORDS = {"nei", "no", "n", "kommer ikke", "kan ikke", "kan ikkje", "ні", "nie", "maya", "لا"}
MAYBE_WORDS = {"kanskje", "kanskje det", "maybe", "perhaps", "можливо", "може", "może", "moze", "malaha",
               "laga yaabee", "ربما"}
_PUNCT = re.compile(r"^[\s.!?,;:]+|[\s.!?,;:]+$")


def answer_in(service: Service, person: Person, text: str | None) -> str | None:
    """"JA", "nei", "kanskje" (and the words of the person's language) -> yes, no, maybe."""
    said = _PUNCT.sub("", text or "").lower()
    if not said:
        return None
    L = lang(service, person)
    for value, words, keyword in ((YES, YES_WORDS, L._("JA")), (NO, NO_WORDS, L._("NEI")),
                                  (MAYBE, MAYBE_WORDS, L._("KANSKJE"))):
        if said in words or said == keyword.lower():
            return value
    return None


def activity_reply(service: Service, session: Session, person: Person, inc: Incoming) -> bool:
    """JA / NEI / KANSKJE answers the youth's nearest open invitation (unanswered first); anything else is relayed.
    Registered by scheduling/activities.py after the meetings' hook, so a JA right after a meeting reminder
    answers the meeting."""
    if person.role != Role.youth or inc.media:
        return False
    said = answer_in(service, person, inc.text)
    if said is None:
        return False
    if session.exec(select(ActivityInvite.id).where(ActivityInvite.answer_source == inc.source_key)).first():
        return True  # seen before
    now = service.now()
    rows = session.exec(select(ActivityInvite, Activity).join(Activity, Activity.id == ActivityInvite.activity_id)
                        .where(ActivityInvite.youth_id == person.id, Activity.status == SCHEDULED,
                               Activity.at > now).order_by(Activity.at, Activity.id)).all()
    if not rows:
        return False
    invite, activity = next(((i, a) for i, a in rows if i.answer is None), rows[0])
    reply = answer(service, session, activity, invite, person, said, inc.channel, source=inc.source_key)
    send_text(session, key=f"actok:{inc.source_key}", person=person, text=reply, now=now, channel=inc.channel)
    return True


# -- cancel, move, show ---------------------------------------------------------------------------


def _get(session: Session, activity_id: int) -> Activity:
    activity = session.get(Activity, activity_id)
    if activity is None:
        raise InputError("id", f"there is no activity with id {activity_id}")
    if activity.status != SCHEDULED:
        raise InputError("id", f"activity {activity_id} is {activity.status}")
    return activity


def invites(session: Session, activity_id: int) -> list[ActivityInvite]:
    return list(session.exec(select(ActivityInvite).where(ActivityInvite.activity_id == activity_id)
                             .order_by(ActivityInvite.youth_id)))


def _tell_everyone(service: Service, session: Session, activity: Activity, stage: str, make_text, log_text: str) -> None:
    """Tell each invited youth (and their parents, with consent), whatever they answered."""
    now = service.now()
    for invite in invites(session, activity.id):
        youth = get_person(session, person_id=invite.youth_id)
        if period.is_over(session, service, youth.id, now):
            continue  # after the follow-up period nothing more is sent
        channel = send_one(service, session, key=f"act{stage}:{activity.id}:{youth.id}:{now.isoformat()}",
                        person=youth, now=now, text=make_text(lang(service, youth), youth))
        log(service, session, activity, youth, channel=channel or "none", direction="out" if channel else "none",
            text=f"{log_text} ({youth.name})")
        for parent in parents_copied(session, youth, now, service):
            send_one(service, session, key=f"act{stage}:{activity.id}:{youth.id}:p{parent.id}:{now.isoformat()}",
                  person=parent, now=now, text=make_text(lang(service, parent), parent))
    service.kick_outbox()


def cancel_activity(session: Session, service: Service, *, activity_id: int) -> Activity:
    """Cancel: everyone invited is told, nothing more is sent for it."""
    activity = _get(session, activity_id)
    now = service.now()
    activity.status, activity.updated_at = CANCELLED, now
    activity.remind_at = activity.nudge_at = None
    N = Lang("nb", service.settings.tz)
    _tell_everyone(service, session, activity, "cancel", lambda L, p: L._(
        "{title} {when}, {place}, er avlyst.", title=activity.title, when=L.when(activity.at, now),
        place=activity.place), N._("Aktivitet {title} {when}: avlyst, alle invitert er varslet",
                                   title=activity.title, when=log_when(service, activity)))
    return activity


def move_activity(session: Session, service: Service, *, activity_id: int, at: datetime) -> Activity:
    """Move to a new time: everyone invited is told; the reminder and the nudge follow the new time."""
    activity = _get(session, activity_id)
    now = service.now()
    if at.tzinfo is None or at <= now:
        raise InputError("at", "give a time in the future, e.g. 2026-12-10T17:00")
    old, activity.at, activity.updated_at = activity.at, at, now
    activity.remind_at = at - REMIND_BEFORE if at - REMIND_BEFORE > now else None
    if activity.respond_by is not None and activity.respond_by > at:
        activity.respond_by = activity.nudge_at = None
    N = Lang("nb", service.settings.tz)
    _tell_everyone(service, session, activity, "move", lambda L, p: L._(
        "{title} er flyttet fra {old} til {when}, {place}.", title=activity.title, old=L.when(old, now),
        when=L.when(at, now), place=activity.place), N._("Aktivitet {title}: flyttet til {when}, alle invitert er varslet",
                                                          title=activity.title, when=log_when(service, activity)))
    return activity


def show(session: Session, service: Service, activity_id: int) -> dict:
    """The activity and who said yes, no or maybe, and who has not answered (youth ids)."""
    activity = session.get(Activity, activity_id)
    if activity is None:
        raise InputError("id", f"there is no activity with id {activity_id}")
    answers = {YES: [], NO: [], MAYBE: [], None: []}
    for invite in invites(session, activity_id):
        answers[invite.answer].append(invite.youth_id)
    return {"id": activity.id, "title": activity.title,
            "at": activity.at.astimezone(service.settings.tz).isoformat(timespec="minutes"),
            "place": activity.place, "status": activity.status, "yes": answers[YES], "no": answers[NO],
            "maybe": answers[MAYBE], "unanswered": answers[None]}


def upcoming(session: Session, youth_ids: tuple[int, ...] | None = None) -> list[Activity]:
    """Activities, newest time first; with youth_ids, those that invited any of them."""
    query = select(Activity).order_by(Activity.at.desc(), Activity.id.desc())
    if youth_ids is not None:
        query = query.where(Activity.id.in_(select(ActivityInvite.activity_id)
                                            .where(ActivityInvite.youth_id.in_(youth_ids))))
    return list(session.exec(query))
