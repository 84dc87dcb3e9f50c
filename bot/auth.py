"""Dashboard logins: argon2 passwords, lock-out after repeated failures, TOTP second factor, sessions and
CSRF tokens. Plain functions over a database session; the web edge (handlers/web/auth.py) sets cookies."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

import pyotp
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from itsdangerous import BadSignature, Signer
from sqlmodel import Session

from bot.roster import passwords
from bot.service import Service
from models import auth as store
from models import crypto
from models.auth import STAGE_ENROL, STAGE_FULL, STAGE_TOTP, StaffTotp, WebSession
from models.people import Person, by_email, get_person

# However active, a session ends after a working day; TETTPA_SESSION_TIMEOUT ends an idle one sooner.
SESSION_MAX_AGE = timedelta(hours=12)
# Writing `seen_at` on every request would turn each page view into a write; once a minute is enough.
SEEN_RESOLUTION = timedelta(minutes=1)
TOTP_PERIOD = 30
TOTP_DIGITS = 6
ISSUER = "Tett på"


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


@lru_cache
def _dummy_hash() -> str:
    return passwords.hash(secrets.token_urlsafe(16))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return passwords.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def attempt_key(email: str) -> str:
    """Where a login address's attempts are counted: its keyed hash, never the address (a mistyped one is
    personal data too). Lower-case hex, so it cannot meet the /start keys (bot/linking.py)."""
    return crypto.blind(normalize_email(email))


def client_key(client: str | None) -> str | None:
    """The client (its network address) as it is counted: a keyed hash too, an address is personal data."""
    return crypto.blind(client) if client else None


def locked_until(service: Service, session: Session, email: str, client: str | None = None) -> datetime | None:
    """When this client may try the address again, if failures locked it.

    TETTPA_LOGIN_MAX_FAILURES failures in a row for the address from this client lock that pair only, so
    nobody elsewhere can keep an account locked out (the owner's own client is not affected); and
    TETTPA_LOGIN_MAX_FAILURES_PER_CLIENT failures from one client across any addresses lock that client, so
    spraying a few tries over many accounts is stopped too. Without a client (no web request), the address
    is locked for everyone, as the count is all there is."""
    settings, now = service.settings, service.now()
    since = now - settings.login_lockout
    client = client_key(client)
    failures = store.recent_failures(session, email=attempt_key(email), since=since, client=client)
    until = failures[-1] + settings.login_lockout if len(failures) >= settings.login_max_failures else None
    if client is not None:
        sprayed = store.client_failures(session, client=client, since=since)
        limit = settings.login_max_failures_per_client
        if len(sprayed) >= limit:
            # Free again once fewer than `limit` of its failures fall within the lock-out window.
            client_until = sprayed[-limit] + settings.login_lockout
            until = max(until, client_until) if until else client_until
    return until


@dataclass
class PasswordCheck:
    person: Person | None = None
    locked_until: datetime | None = None
    stage: str | None = None


def check_password(service: Service, session: Session, email: str, password: str,
                   client: str | None = None) -> PasswordCheck:
    """The person behind email and password, and what is still due (second factor, set-up) before the
    login is complete. A locked address (for this client) is refused without looking at the password."""
    email = normalize_email(email)
    until = locked_until(service, session, email, client)
    if until is not None:
        return PasswordCheck(locked_until=until)
    person = by_email(session, email=email) if email else None
    if person is not None and person.is_staff and person.password_hash:
        ok = _verify(person.password_hash, password)
    else:
        _verify(_dummy_hash(), password)  # the same work as for a real account: no timing hint
        ok = False
    if not ok:
        store.add_attempt(session, email=attempt_key(email), at=service.now(), ok=False, client=client_key(client))
        session.flush()
        return PasswordCheck(locked_until=locked_until(service, session, email, client))
    if passwords.check_needs_rehash(person.password_hash):
        person.password_hash = passwords.hash(password)
    totp = store.totp_of(session, person_id=person.id)
    if totp is not None and totp.enabled_at is not None:
        # Not yet a success: a failure count reset here would let a known password try codes without end.
        return PasswordCheck(person=person, stage=STAGE_TOTP)
    store.add_attempt(session, email=attempt_key(email), at=service.now(), ok=True, client=client_key(client))
    return PasswordCheck(person=person, stage=STAGE_ENROL if service.settings.require_2fa else STAGE_FULL)


def check_second_factor(service: Service, session: Session, person: Person, code: str,
                        client: str | None = None) -> bool | datetime:
    """True for a right code; a failure counts towards the lock-out (the datetime when it locks)."""
    email = normalize_email(person.email or "")
    until = locked_until(service, session, email, client)
    if until is not None:
        return until
    totp = store.totp_of(session, person_id=person.id)
    if totp is not None and totp.enabled_at is not None and accept_code(totp, code, service.now()):
        store.add_attempt(session, email=attempt_key(email), at=service.now(), ok=True, client=client_key(client))
        return True
    store.add_attempt(session, email=attempt_key(email), at=service.now(), ok=False, client=client_key(client))
    session.flush()
    return locked_until(service, session, email, client) or False


# --- TOTP (RFC 6238: HMAC-SHA1, 30-second steps, 6 digits), what every authenticator app speaks, through
# pyotp. The step is kept here (not pyotp's `verify`) so each code is accepted at most once. ---

def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD)


def new_totp_secret() -> str:
    return pyotp.random_base32()  # 32 base32 characters: 160 bits, as RFC 4226 recommends


def totp_code(secret: str, step: int) -> str:
    return _totp(secret).generate_otp(step)


def totp_step(at: datetime) -> int:
    return int(at.timestamp()) // TOTP_PERIOD  # as pyotp.TOTP.timecode, without a secret to hand


def accept_code(totp: StaffTotp, code: str, now: datetime) -> bool:
    """A code for this step or one next to it (phone clocks drift), each step used at most once."""
    code = "".join((code or "").split())
    if len(code) != TOTP_DIGITS or not code.isdigit():
        return False
    current = totp_step(now)
    for step in (current - 1, current, current + 1):
        if step > totp.last_step and hmac.compare_digest(code, totp_code(totp.secret, step)):
            totp.last_step = step
            return True
    return False


def provisioning_uri(secret: str, email: str) -> str:
    return _totp(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def pending_totp(service: Service, session: Session, person: Person) -> StaffTotp:
    """The person's second factor being set up (a new secret unless one is waiting already)."""
    totp = store.totp_of(session, person_id=person.id)
    if totp is None:
        totp = StaffTotp(person_id=person.id, secret=new_totp_secret())
        session.add(totp)
        session.flush()
    return totp


def enable_totp(service: Service, session: Session, person: Person, code: str) -> bool:
    totp = store.totp_of(session, person_id=person.id)
    if totp is None or totp.enabled_at is not None or not accept_code(totp, code, service.now()):
        return False
    totp.enabled_at = service.now()
    return True


def disable_totp(service: Service, session: Session, person: Person, code: str) -> bool:
    totp = store.totp_of(session, person_id=person.id)
    if totp is None or totp.enabled_at is None or not accept_code(totp, code, service.now()):
        return False
    session.delete(totp)
    return True


def has_totp(session: Session, person_id: int) -> bool:
    totp = store.totp_of(session, person_id=person_id)
    return totp is not None and totp.enabled_at is not None


# --- sessions: a random token in a signed cookie, its hash in the database ---

def _signer(service: Service, purpose: str) -> Signer:
    return Signer(service.settings.secret_key, salt=f"tettpa.{purpose}")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(service: Service, session: Session, person: Person, stage: str) -> str:
    """A new session; the cookie value to set."""
    now = service.now()
    store.drop_stale_sessions(session, seen_before=now - service.settings.session_timeout,
                              created_before=now - SESSION_MAX_AGE)
    token = secrets.token_urlsafe(32)
    store.add_session(session, token_hash=_hash(token), person_id=person.id, stage=stage,
                      csrf=secrets.token_urlsafe(32), now=now)
    return _signer(service, "session").sign(token).decode()


def _token(service: Service, cookie: str | None) -> str | None:
    if not cookie:
        return None
    try:
        return _signer(service, "session").unsign(cookie).decode()
    except BadSignature:
        return None


class NeedsWrite(Exception):
    """load_session(write=False) found a session to end or to mark as seen: ask again in a write."""


def load_session(service: Service, session: Session, cookie: str | None, *,
                 write: bool = True) -> tuple[WebSession, Person] | None:
    """The live session and its person behind a cookie, or None (missing, forged, expired, revoked).
    With `write=False` (in a read transaction) it raises NeedsWrite where it would change the row: most
    requests only read, so a page does not wait for the write lock to learn who is asking."""
    token = _token(service, cookie)
    if token is None:
        return None
    row = store.session_by_token(session, token_hash=_hash(token))
    if row is None:
        return None
    now = service.now()
    if row.seen_at + service.settings.session_timeout <= now or row.created_at + SESSION_MAX_AGE <= now:
        if not write:
            raise NeedsWrite
        session.delete(row)
        return None
    person = get_person(session, person_id=row.person_id)
    # A password removed ends its sessions; with sign-on a staff member needs no password at all.
    if person is None or not person.is_staff or not (person.password_hash or service.settings.oidc_enabled):
        return None
    if now - row.seen_at >= SEEN_RESOLUTION:
        if not write:
            raise NeedsWrite
        row.seen_at = now
    return row, person


def end_sessions_of(session: Session, person_id: int) -> int:
    """End every dashboard session of a person (a new password, or on demand); how many were ended."""
    return store.drop_sessions_of(session, person_id=person_id)


def client_address(peer: str | None, forwarded_for: str | None, trusted: list) -> str:
    """The address a request came from: its peer, or behind trusted proxies (TETTPA_TRUSTED_PROXIES) the
    last X-Forwarded-For address that is not one of them (the ones before it are the client's own word)."""
    def is_trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in trusted)

    address = peer or "unknown"
    if not is_trusted(address) or not forwarded_for:
        return address
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        address = hop
        if not is_trusted(hop):
            break
    return address[:64]


def end_session(service: Service, session: Session, cookie: str | None) -> None:
    token = _token(service, cookie)
    if token is not None:
        store.drop_session(session, token_hash=_hash(token))


def next_stage(service: Service, session: Session, person: Person) -> str:
    """After a second factor was shown or set up: complete, unless one must still be set up."""
    if service.settings.require_2fa and not has_totp(session, person.id):
        return STAGE_ENROL
    return STAGE_FULL


# --- CSRF: the session's token in every form; before login, a token tied to a cookie nonce ---

def csrf_ok(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), given.encode())


def new_login_nonce() -> str:
    return secrets.token_urlsafe(24)


def login_csrf(service: Service, nonce: str) -> str:
    return hmac.new(service.settings.secret_key.encode(), f"login:{nonce}".encode(), hashlib.sha256).hexdigest()
