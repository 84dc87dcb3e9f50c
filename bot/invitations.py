"""Inviting many people at once: by SMS where a phone is known, and as printed cards with a QR code to hand
out at the first meeting. Both make a new code for each person (codes are kept only as hashes, so an old one
cannot be shown again), which also ends the old code."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import segno
from fpdf import FPDF
from sqlmodel import Session, select

from bot import roster
from bot.i18n import Lang
from bot.out.outbox import queue_text
from bot.service import Service
from models import kv
from models.people import Person, Role

# Scripts that need shaping (joined letters, right to left); the shaping engine is slow, so only for those.
COMPLEX = re.compile(r"[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")
# A credit-card-sized card, eight to an A4 page: two columns of four, with room to cut between them.
CARD_W, CARD_H, GAP, LEFT, TOP = 85.0, 54.0, 6.0, 17.0, 20.0


@dataclass
class Invitation:
    person: Person
    code: str
    link: str


def invitable(session: Session, *, ids: list[int] | None = None) -> list[Person]:
    """Youths and parents who have not linked Telegram yet (the ones named, or all), in id order."""
    query = select(Person).where(Person.role.in_([Role.youth, Role.parent]), Person.telegram_user_id.is_(None))
    if ids is not None:
        query = query.where(Person.id.in_(ids))
    return list(session.exec(query.order_by(Person.id)))


def renew(service: Service, session: Session, person: Person) -> Invitation:
    """A fresh code for the person; the old one stops working."""
    invited = roster._invite(session, person, secret_key=service.settings.secret_key, now=service.now())
    return Invitation(person, invited.code, invited.link)


def bot_username(session: Session) -> str:
    return kv.get(session, "telegram_username") or "TettPaBot"


def sms_text(L: Lang, invitation: Invitation, bot: str) -> str:
    """The invite as one SMS: what this is, the link, and the code for those who type it."""
    return L._(
        "Hei {name}! Du er invitert til Tett på, der du kan skrive til kontaktpersonen din i "
        "oppfølgingstjenesten. Åpne lenken i Telegram: {link} eller send /start {code} til @{bot}.",
        name=invitation.person.name.split()[0], link=invitation.link, code=invitation.code, bot=bot,
    )


def send(service: Service, session: Session, *, ids: list[int] | None = None) -> list[dict]:
    """Send each invitable person with a phone a new invite by SMS; what happened to each, without names."""
    bot = bot_username(session)
    results = []
    for person in invitable(session, ids=ids):
        if not person.phone:
            results.append({"id": person.id, "sent": False, "reason": "no phone"})
            continue
        if person.sms_opt_out:
            results.append({"id": person.id, "sent": False, "reason": "opted out of SMS (STOP)"})
            continue
        invitation = renew(service, session, person)
        L = Lang(person.language, service.settings.tz)
        # The key carries the code's hash prefix: a new invite later is a new send, a replay of this one is not.
        queue_text(session, key=f"invite:{person.id}:{person.invite_hash[:12]}", channel="sms",
                   address=person.phone, text=sms_text(L, invitation, bot), now=service.now(), person_id=person.id)
        results.append({"id": person.id, "sent": True, "reason": None})
    return results


def _qr_png(link: str) -> io.BytesIO:
    out = io.BytesIO()
    segno.make(link, error="m").save(out, kind="png", scale=8, border=2)
    out.seek(0)
    return out


def _text(pdf: FPDF, x: float, y: float, w: float, h: float, text: str, size: float) -> None:
    pdf.set_font("card", size=size)
    shaping = bool(COMPLEX.search(text))
    pdf.set_text_shaping(shaping)
    pdf.set_xy(x, y)
    pdf.multi_cell(w, h, text, align="R" if shaping else "L")
    pdf.set_text_shaping(False)


def cards(service: Service, invitations: list[Invitation], bot: str) -> bytes:
    """A PDF of invite cards, each in the person's language: name, QR code of the link, the code."""
    font = service.settings.pdf_font
    if not Path(font).is_file():
        raise FileNotFoundError(font)
    pdf = FPDF(format="A4")
    pdf.set_title("Tett på")
    pdf.set_creator("Tett på")
    pdf.add_font("card", "", font)
    pdf.set_auto_page_break(auto=False)
    for index, invitation in enumerate(invitations):
        slot = index % 8
        if slot == 0:
            pdf.add_page()
        x = LEFT + (slot % 2) * (CARD_W + GAP)
        y = TOP + (slot // 2) * (CARD_H + GAP)
        L = Lang(invitation.person.language, service.settings.tz)
        pdf.set_draw_color(170, 170, 170)
        pdf.set_dash_pattern(dash=1, gap=1)
        pdf.rect(x, y, CARD_W, CARD_H)  # where to cut
        pdf.set_dash_pattern()
        pdf.image(_qr_png(invitation.link), x=x + 3, y=y + 3, w=30, h=30)
        _text(pdf, x + 36, y + 4, CARD_W - 39, 6, "Tett på", 13)
        _text(pdf, x + 36, y + 11, CARD_W - 39, 5, invitation.person.name, 10)
        _text(pdf, x + 36, y + 20, CARD_W - 39, 4, L._("Skann koden med mobilen, eller send i Telegram til "
                                                         "@{bot}:", bot=bot), 7.5)
        _text(pdf, x + 36, y + 34, CARD_W - 39, 6, f"/start {invitation.code}", 11)
        _text(pdf, x + 3, y + 42, CARD_W - 6, 3.6, L._("Da når meldingene dine kontaktpersonen din. Koden virker "
                                                        "én gang."), 7)
    return bytes(pdf.output())
