"""Single sign-on: who a verified identity from the county's OpenID provider is in Tett på.

The provider only vouches for an e-mail address; whether that person may see anything, and what, is decided
here by the staff roster (roles stay in Tett på). Core: no web framework, no HTTP client.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlmodel import Session

from models.people import Person, by_email

log = logging.getLogger(__name__)


@dataclass
class SignOn:
    person: Person | None
    reason: str  # "ok", "unverified", "unknown"


def verified_email(claims: dict) -> str | None:
    """The e-mail the provider says it verified, lower-cased; None when it does not say so.

    Feide and ID-porten send `email_verified`; Entra ID instead marks a domain-owner-verified address with
    the optional claim `xms_edov`. An address without either could be typed in by anyone at the provider.
    """
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        return None
    if claims.get("email_verified") is True or claims.get("xms_edov") is True:
        return email.strip().lower()
    return None


def _masked(email: str) -> str:
    """k***@ot.example: enough to see which organisation tried, not who."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def sign_on(session: Session, claims: dict) -> SignOn:
    """The staff member these claims belong to, or why nobody is."""
    email = verified_email(claims)
    if email is None:
        log.warning("sign-on refused: the provider did not verify the e-mail address")
        return SignOn(None, "unverified")
    person = by_email(session, email=email)
    if person is None or not person.is_staff:
        log.warning("sign-on refused: no staff member with the e-mail %s", _masked(email))
        return SignOn(None, "unknown")
    log.info("sign-on: staff member %s signed in", person.id)
    return SignOn(person, "ok")
