"""Udir's OT status codes (Kodeverk for oppfølgingstjenesten, VIGO OT), and a youth's status history."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Session, select

from bot.contactlog import record
from bot.errors import InputError
from bot.i18n import Lang
from bot.settings import Settings
from models.people import Person, Role, get_person
from models.programme import StatusChange

# Udir's own Norwegian names: they are the code list's labels, the same on every report, so they are data
# and not texts to translate. The `_IM` codes are for youths registered but outside the target group.
CODES: dict[str, str] = {
    "OTUK": "Ukjent aktivitet",
    "OTOV": "Oppfølging og veiledning",
    "OTOA": "Opplæring og arbeidspraksis i regi av fylket",
    "OTAP": "Arbeidspraksis eller annet tiltak i regi av NAV",
    "OTKO": "Kombinasjonstiltak – fylkeskommunen/kommunen og NAV",
    "OTAR": "I arbeid",
    "OTEV": "Elev",
    "OTVF": "Elev ved en privat videregående skole",
    "OTLL": "Lærling/lærekandidat/praksisbrevkandidat",
    "OTNO": "Takket nei til oppfølging",
    "OTMI": "Er i militæret",
    "OTBA": "Har omsorg for barn",
    "OTSY": "Er syk/i institusjon",
    "OTIF": "Ikke-formell opplæring",
    "ELGS_IM": "Elev i grunnskolen, OT jobber forebyggende",
    "ELVG_IM": "Elev/lærling/lærekandidat, OT jobber forebyggende",
    "OTFA_IM": "Flyttet til et annet fylke",
    "OTFU_IM": "Flyttet til/oppholder seg i utlandet",
    "OTAR_IM": "Er i arbeid (ikke i målgruppen)",
    "OTEV_IM": "Er elev (ikke i målgruppen)",
    "OTVF_IM": "Er elev ved en privat videregående skole (ikke i målgruppen)",
    "OTLL_IM": "Er lærling/lærekandidat/praksisbrevkandidat (ikke i målgruppen)",
}
# Udir's groups, in the order of the code list (what the report's chart is grouped by).
GROUPS: dict[str, tuple[str, ...]] = {
    "Ukjent aktivitet": ("OTUK",),
    "Under oppfølging og veiledning": ("OTOV",),
    "I aktivitet": ("OTOA", "OTAP", "OTKO", "OTAR", "OTEV", "OTVF", "OTLL"),
    "Avklart": ("OTNO", "OTMI", "OTBA", "OTSY", "OTIF"),
    "Tilmeldt, men ikke i målgruppen": tuple(c for c in CODES if c.endswith("_IM")),
}


def normalize(code: str) -> str:
    """`otar-im`, `OTAR IM` and `OTAR_IM` are one code."""
    value = "_".join((code or "").strip().upper().replace("-", " ").replace("_", " ").split())
    if value not in CODES:
        raise InputError("code", f"{code!r} is not an OT status code (one of {', '.join(CODES)})")
    return value


def label(code: str | None) -> str:
    return f"{code} {CODES[code]}" if code in CODES else ""


def set_status(session: Session, settings: Settings, *, youth_id: int, code: str, now: datetime,
               start: date | None = None, by: Person | None = None) -> StatusChange:
    """Give a youth a status code from a day on (default today); the earlier codes stay in the history."""
    youth = get_person(session, person_id=youth_id)
    if youth is None or youth.role != Role.youth:
        raise InputError("youth", f"there is no youth with id {youth_id}")
    value = normalize(code)
    day = start or now.astimezone(settings.tz).date()
    change = StatusChange(youth_id=youth.id, code=value, start=day, recorded_at=now)
    session.add(change)
    session.flush()
    record(session, settings, at=now, youth_id=youth.id, party="worker" if by else "system",
           worker_id=by.id if by else None, channel="manual", direction="none", kind="status",
           text=Lang("nb", settings.tz)._("Statuskode {code} fra {day}", code=label(value), day=day.isoformat()))
    return change


def history(session: Session, youth_id: int) -> list[StatusChange]:
    return list(session.exec(select(StatusChange).where(StatusChange.youth_id == youth_id)
                             .order_by(StatusChange.start, StatusChange.id)))


def status_on(session: Session, youth_ids: list[int], day: date) -> dict[int, str]:
    """Each youth's code on a day (those with none are left out)."""
    if not youth_ids:
        return {}
    rows = session.exec(select(StatusChange).where(StatusChange.youth_id.in_(youth_ids), StatusChange.start <= day)
                        .order_by(StatusChange.start, StatusChange.id))
    return {row.youth_id: row.code for row in rows}
