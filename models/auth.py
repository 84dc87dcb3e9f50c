"""Dashboard logins: sessions, failed attempts (for the lock-out) and TOTP second factors."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, Integer, delete, func
from sqlmodel import Field, Session, SQLModel, select

from models.crypto import EncryptedText
from models.types import UTCDateTime

# A session's stage: the password was right but the second factor is still due, the person must set up
# a second factor before anything else (TETTPA_REQUIRE_2FA), or the login is complete.
STAGE_TOTP, STAGE_ENROL, STAGE_FULL = "totp", "enrol", "full"


class WebSession(SQLModel, table=True):
    __tablename__ = "web_session"
    id: int | None = Field(default=None, primary_key=True)
    # SHA-256 of the random token in the cookie: a leaked table does not give usable cookies.
    token_hash: str = Field(unique=True)
    person_id: int = Field(sa_column=Column(Integer, ForeignKey("person.id"), nullable=False, index=True))
    stage: str
    csrf: str
    created_at: datetime = Field(sa_type=UTCDateTime)
    seen_at: datetime = Field(sa_type=UTCDateTime)


class LoginAttempt(SQLModel, table=True):
    __tablename__ = "login_attempt"
    __table_args__ = (Index("ix_login_attempt_email_at", "email", "at"), Index("ix_login_attempt_client_at", "client", "at"))
    id: int | None = Field(default=None, primary_key=True)
    # The address as typed (lower-cased), also when nobody has it, so unknown addresses lock out alike.
    email: str
    at: datetime = Field(sa_type=UTCDateTime)
    ok: bool
    # The address the attempt came from (behind trusted proxies, from X-Forwarded-For): a lock-out is per
    # account and client, so nobody elsewhere can keep an account locked; and per client across accounts.
    client: str | None = None


class StaffTotp(SQLModel, table=True):
    __tablename__ = "staff_totp"
    person_id: int = Field(sa_column=Column(Integer, ForeignKey("person.id"), primary_key=True))
    secret: str = Field(sa_type=EncryptedText)  # base32
    # None while the person is setting it up and has not yet shown one right code.
    enabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The last 30-second step a code was accepted for: the same code cannot be used twice.
    last_step: int = 0


def add_session(session: Session, *, token_hash: str, person_id: int, stage: str, csrf: str, now: datetime) -> WebSession:
    row = WebSession(token_hash=token_hash, person_id=person_id, stage=stage, csrf=csrf, created_at=now, seen_at=now)
    session.add(row)
    session.flush()
    return row


def session_by_token(session: Session, *, token_hash: str) -> WebSession | None:
    return session.exec(select(WebSession).where(WebSession.token_hash == token_hash)).first()


def drop_session(session: Session, *, token_hash: str) -> None:
    session.execute(delete(WebSession).where(WebSession.token_hash == token_hash))


def drop_stale_sessions(session: Session, *, seen_before: datetime, created_before: datetime) -> None:
    session.execute(
        delete(WebSession).where((WebSession.seen_at < seen_before) | (WebSession.created_at < created_before))
    )


def add_attempt(session: Session, *, email: str, at: datetime, ok: bool, client: str | None = None) -> None:
    session.add(LoginAttempt(email=email, at=at, ok=ok, client=client))


def drop_sessions_of(session: Session, *, person_id: int) -> int:
    """End every dashboard session of one person; how many there were."""
    return session.execute(delete(WebSession).where(WebSession.person_id == person_id)).rowcount


def client_failures(session: Session, *, client: str, since: datetime) -> list[datetime]:
    """Failed attempts from one client (any address typed) since `since`, oldest first."""
    return list(session.exec(select(LoginAttempt.at).where(
        LoginAttempt.client == client, LoginAttempt.ok.is_(False), LoginAttempt.at > since).order_by(LoginAttempt.id)))


def drop_attempts(session: Session, *, before: datetime) -> int:
    """Forget login (and /start) attempts older than `before`; how many."""
    return session.execute(delete(LoginAttempt).where(LoginAttempt.at < before)).rowcount


def recent_failures(session: Session, *, email: str, since: datetime, client: str | None = None) -> list[datetime]:
    """Failed attempts for the address since `since` and after its last successful login, oldest first;
    with `client`, only those from that client."""
    last_ok = session.exec(
        select(func.max(LoginAttempt.id)).where(LoginAttempt.email == email, LoginAttempt.ok.is_(True))
    ).one()
    query = select(LoginAttempt.at).where(
        LoginAttempt.email == email, LoginAttempt.ok.is_(False), LoginAttempt.at > since
    )
    if last_ok is not None:
        query = query.where(LoginAttempt.id > last_ok)
    if client is not None:
        query = query.where(LoginAttempt.client == client)
    return list(session.exec(query.order_by(LoginAttempt.id)))


def totp_of(session: Session, *, person_id: int) -> StaffTotp | None:
    return session.get(StaffTotp, person_id)
