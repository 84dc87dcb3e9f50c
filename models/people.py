"""Youths, parents, workers and coordinators: one table, because they share channels, language and invites."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Column, ForeignKey, Integer, bindparam, event
from sqlmodel import Field, Session, SQLModel, or_, select

from models.crypto import EncryptedString, EncryptedText, blind, blinds
from models.db import prepared
from models.types import UTCDateTime


class Role(StrEnum):
    youth = "youth"
    parent = "parent"
    worker = "worker"
    coordinator = "coordinator"
    admin = "admin"  # a coordinator of every unit


STAFF = (Role.worker, Role.coordinator, Role.admin)


class PersonBase(SQLModel):
    role: str = Field(index=True)
    name: str = Field(sa_type=EncryptedText)
    # Encrypted like names; found through phone_hash and email_hash (models.crypto.blind).
    phone: str | None = Field(default=None, sa_type=EncryptedString, index=True)
    email: str | None = Field(default=None, sa_type=EncryptedString, unique=True)
    language: str = "nb"


class Person(PersonBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    # Keyed hashes of phone and e-mail, kept in step by the events below; several people may share a phone.
    phone_hash: str | None = Field(default=None, index=True)
    email_hash: str | None = Field(default=None, unique=True, index=True)
    telegram_user_id: int | None = Field(default=None, unique=True)
    telegram_chat_id: int | None = None
    # A parent belongs to one youth; a youth has a fixed primary and a backup secondary worker.
    youth_id: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("person.id"), index=True))
    primary_id: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("person.id"), index=True))
    secondary_id: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("person.id"), index=True))
    birth_date: date | None = None
    hours: str = ""
    off: bool = False
    # When the worker last stopped being available; cleared (and a digest sent) when they come back.
    away_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    password_hash: str | None = None
    invite_hash: str | None = Field(default=None, unique=True)
    invite_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # When the current invite code was made: it links nobody after TETTPA_INVITE_VALID.
    invite_issued_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_channel: str | None = None
    sms_opt_out: bool = False
    created_at: datetime = Field(sa_type=UTCDateTime)

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF


class Absence(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    worker_id: int = Field(foreign_key="person.id", index=True)
    start: datetime = Field(sa_type=UTCDateTime)
    end: datetime = Field(sa_type=UTCDateTime)


def create_person(session: Session, *, role: Role, name: str, created_at: datetime, **fields) -> Person:
    person = Person(role=role, name=name, created_at=created_at, **fields)
    session.add(person)
    session.flush()
    return person


def get_person(session: Session, *, person_id: int) -> Person | None:
    return session.get(Person, person_id)


@prepared
def _by_telegram_user():
    return select(Person).where(Person.telegram_user_id == bindparam("user_id"))


def by_telegram_user(session: Session, *, user_id: int) -> Person | None:
    return session.exec(_by_telegram_user(), params={"user_id": user_id}).first()


def by_phone(session: Session, *, phone: str) -> list[Person]:
    return list(session.exec(select(Person).where(Person.phone_hash.in_(blinds(phone))).order_by(Person.id)))


def by_invite(session: Session, *, invite_hash: str) -> Person | None:
    return session.exec(select(Person).where(Person.invite_hash == invite_hash)).first()


def by_email(session: Session, *, email: str) -> Person | None:
    return session.exec(select(Person).where(Person.email_hash.in_(blinds(normal_email(email))))).first()


def normal_email(email: str) -> str:
    return email.strip().lower()


@event.listens_for(Person, "before_insert")
@event.listens_for(Person, "before_update")
def _hash_contact(_mapper, _conn, target: Person) -> None:
    """Keep the lookup hashes in step with phone and e-mail, however those were set."""
    target.phone_hash = blind(target.phone) if target.phone else None
    target.email_hash = blind(normal_email(target.email)) if target.email else None


def staff(session: Session) -> list[Person]:
    return list(session.exec(select(Person).where(Person.role.in_(STAFF)).order_by(Person.id)))


def youths_of(session: Session, *, worker_id: int) -> list[Person]:
    """Youths the worker is primary or secondary for."""
    query = select(Person).where(
        Person.role == Role.youth, or_(Person.primary_id == worker_id, Person.secondary_id == worker_id)
    )
    return list(session.exec(query.order_by(Person.id)))


def parents_of(session: Session, *, youth_id: int) -> list[Person]:
    return list(session.exec(select(Person).where(Person.youth_id == youth_id).order_by(Person.id)))


@prepared
def _absences_of():
    return select(Absence).where(Absence.worker_id == bindparam("worker_id")).order_by(Absence.start)


def absences_of(session: Session, *, worker_id: int) -> list[Absence]:
    return list(session.exec(_absences_of(), params={"worker_id": worker_id}))
