"""Activities in the sweep: the reminder the day before, the nudge at the answer-by time, the answer digests.

Each is a due time on the activity row, cleared in the same transaction that queues the sends, so a restart
sends what was due late (while the activity has not begun) and nothing twice.
"""

from __future__ import annotations

from sqlalchemy import or_
from sqlmodel import Session, select

from bot import activities as core
from bot import period
from bot.actions import reply_hook
from bot.i18n import Lang
from bot.out.outbox import send_text
from bot.relay import lang
from bot.service import Service
from models.activities import MAYBE, NO, SCHEDULED, YES, Activity, ActivityInvite
from models.people import Person, get_person
from scheduling import meetings  # noqa: F401  (its reply hook first: a JA after a meeting reminder is for the meeting)

reply_hook(core.activity_reply)


def _due(session: Session, column, now, limit: int) -> list[Activity]:
    return list(session.exec(select(Activity).where(column.is_not(None), column <= now)
                             .order_by(column, Activity.id).limit(limit).with_for_update(skip_locked=True)))


def anything_due(now):
    """Activities with a digest, reminder or nudge due (the sweep asks in a read before it writes)."""
    return select(Activity.id).where(or_(*((column.is_not(None)) & (column <= now)
                                           for column in (Activity.digest_at, Activity.remind_at, Activity.nudge_at))))


def run_due(service: Service, limit: int = 20) -> int:
    """Digests, reminders and nudges that are due; how many activities were handled."""
    now = service.now()
    with service.tx() as session:
        digests = _due(session, Activity.digest_at, now, limit)
        for activity in digests:
            tell_workers(service, session, activity)
        reminders = _due(session, Activity.remind_at, now, limit)
        for activity in reminders:
            activity.remind_at = None
            if activity.status == SCHEDULED and now < activity.at:
                _to_invited(service, session, activity, "remind", (YES, MAYBE))
        nudges = _due(session, Activity.nudge_at, now, limit)
        for activity in nudges:
            activity.nudge_at = None
            if activity.status == SCHEDULED and now < activity.at:
                _to_invited(service, session, activity, "nudge", (None,))
    service.kick_outbox()
    return len(digests) + len(reminders) + len(nudges)


def _to_invited(service: Service, session: Session, activity: Activity, stage: str, answers: tuple) -> None:
    now = service.now()
    N = Lang("nb", service.settings.tz)
    for invite in core.invites(session, activity.id):
        youth = get_person(session, person_id=invite.youth_id)
        if invite.answer not in answers or period.is_over(session, service, youth.id, now):
            continue
        people = [youth] + (core.parents_copied(session, youth, now, service) if stage == "remind" else [])
        for person in people:
            L = lang(service, person)
            values = core.texts_values(L, activity, person, now)
            if stage == "remind":
                text = L._("Hei {name}! Husk {title} {when}, {place}.", **values)
            else:
                text = L._("Hei {name}! Kommer du på {title} {when}, {place}?", **values)
            # The activity's time is in the key: after a move, the new time's reminder is a new send.
            key = f"act{stage}:{activity.id}:{person.id}:{int(activity.at.timestamp())}"
            channel = core.send_one(service, session, key=key, person=person,
                                 text=text, now=now, activity=activity if stage == "nudge" else None)
            if person.id != youth.id:
                continue
            what = N._("påminnelse") if stage == "remind" else N._("purring")
            core.log(service, session, activity, youth, channel=channel or "none",
                     direction="out" if channel else "none",
                     text=N._("Aktivitet {title} {when}: {what} sendt til {name}", title=activity.title,
                              when=core.log_when(service, activity), what=what, name=youth.name))


def tell_workers(service: Service, session: Session, activity: Activity) -> None:
    """One message per worker with the answers of their youths since the last one, and the count so far."""
    now = service.now()
    activity.digest_at = None
    fresh = list(session.exec(select(ActivityInvite).where(
        ActivityInvite.activity_id == activity.id, ActivityInvite.told.is_(False)).order_by(ActivityInvite.id)))
    per_worker: dict[int, list[tuple[Person, str]]] = {}
    for invite in fresh:
        invite.told = True
        youth = get_person(session, person_id=invite.youth_id)
        for worker_id in dict.fromkeys(w for w in (youth.primary_id or youth.secondary_id, activity.created_by) if w):
            per_worker.setdefault(worker_id, []).append((youth, invite.answer))
    counts = {YES: 0, NO: 0, MAYBE: 0, None: 0}
    for invite in core.invites(session, activity.id):
        counts[invite.answer] += 1
    for worker_id, lines in per_worker.items():
        worker = get_person(session, person_id=worker_id)
        if worker is None or not worker.is_staff:
            continue
        W = lang(service, worker)
        body = "\n".join(f"{youth.name}: {core.answer_word(W, said)}" for youth, said in lines)
        text = "\n".join((
            W._("Svar på {title} {when}:", title=activity.title, when=W.when(activity.at, now)), body,
            W._("Så langt: {yes} ja, {no} nei, {maybe} kanskje, {open} har ikke svart.", yes=counts[YES],
                no=counts[NO], maybe=counts[MAYBE], open=counts[None]),
        ))
        send_text(session, key=f"actdigest:{activity.id}:{worker.id}:{now.isoformat()}", person=worker,
                  channel="telegram", text=text, now=now)
