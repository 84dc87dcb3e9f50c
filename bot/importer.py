"""`tettpa import people FILE.csv`: a roster from the county's spreadsheet, all or nothing.

Every row is checked, every error reported with its row (as a spreadsheet numbers them: the header is row 1)
and field; only when there is none is anything created. People already in the database (matched by e-mail,
else by phone and name) are left as they are, so importing the same file twice creates nobody twice.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date

from sqlmodel import Session, select

from bot import roster
from bot.errors import InputError
from bot.service import Service
from models.people import Person, Role, by_email, by_phone
from models.programme import Unit

COLUMNS = ("ref", "role", "name", "phone", "email", "language", "unit", "primary", "secondary", "youth",
           "period_from", "period_until")
REQUIRED = ("ref", "role", "name")
STAFF = {"worker": Role.worker, "coordinator": Role.coordinator, "admin": Role.admin}
MAX_ROWS = 20_000  # a county's roster is a few thousand; a bigger file is a mistake, not a roster


@dataclass
class RowError:
    row: int
    field: str
    message: str


@dataclass
class Imported:
    ref: str
    id: int | None
    name: str
    role: str
    invite_code: str | None
    invite_link: str | None


@dataclass
class Result:
    created: list[Imported] = field(default_factory=list)
    existing: int = 0
    errors: list[RowError] = field(default_factory=list)


class ImportFailed(Exception):
    """Raised inside the transaction so that nothing of a file with errors is kept."""


def read(data: bytes) -> tuple[list[dict[str, str]], list[RowError]]:
    """The rows as dicts keyed by column, from UTF-8 (with or without Excel's BOM), `,` or `;` separated."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], [RowError(1, "file", f"not UTF-8 (byte {exc.start}); save the sheet as CSV UTF-8")]
    header_line = text.split("\n", 1)[0]
    delimiter = ";" if header_line.count(";") > header_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        return [], [RowError(1, "file", "the file is empty")]
    except csv.Error as exc:
        return [], [RowError(1, "file", f"not a CSV file ({exc})")]
    errors = [RowError(1, name, f"unknown column {name!r} (columns: {', '.join(COLUMNS)})")
              for name in header if name and name not in COLUMNS]
    errors += [RowError(1, name, f"the column {name!r} is missing") for name in REQUIRED if name not in header]
    rows = []
    try:
        for values in reader:
            if reader.line_num > MAX_ROWS + 1:
                return [], [RowError(reader.line_num, "file", f"more than {MAX_ROWS} rows")]
            if not any(value.strip() for value in values):
                continue  # an empty line at the end of a sheet
            row = {name: (values[i].strip() if i < len(values) else "") for i, name in enumerate(header)}
            row["_row"] = str(reader.line_num)
            rows.append(row)
    except csv.Error as exc:
        errors.append(RowError(reader.line_num, "file", f"the CSV breaks here ({exc})"))
    return rows, errors


def _date(value: str, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(name, f"{value!r} is not a date (YYYY-MM-DD)") from None


def _email(value: str) -> str | None:
    if not value:
        return None
    email = value.strip().lower()
    if not roster.EMAIL.match(email):
        raise InputError("email", f"{value!r} is not an e-mail address")
    return email


def _same_person(session: Session, row: dict[str, str], role: Role, named: dict[str, Person]) -> Person | None:
    """Someone already there: by e-mail, else by phone and name, else (no contact at all) by name."""
    email = _email(row.get("email", ""))
    if email and (found := by_email(session, email=email)) is not None:
        return found
    name = " ".join(row["name"].split())
    if row.get("phone"):
        phone = roster._phone(row["phone"])
        return next((p for p in by_phone(session, phone=phone) if p.name == name and p.role == role), None)
    return None if email else named.get(name)


class _Run:
    """One import: refs seen so far, the people they stand for, and what went wrong."""

    def __init__(self, service: Service, session: Session, result: Result):
        self.service, self.session, self.result = service, session, result
        self.by_ref: dict[str, Person] = {}
        self._named: dict[Role, dict[str, Person]] = {}
        self.failed: dict[str, int] = {}  # ref -> row, of rows with an error: what names them fails too
        self.kw = {"now": service.now(), "secret_key": service.settings.secret_key}

    def unit(self, value: str) -> int | None:
        """A unit by its name or its id; none given: the person's unit follows the usual rules (bot/units.py)."""
        if not value:
            return None
        found = self.session.get(Unit, int(value)) if value.isdigit() else self.session.exec(
            select(Unit).where(Unit.name == value)).first()
        if found is None:
            raise InputError("unit", f"{value!r} is no unit in Tett på (name or id; `tettpa unit add` makes one)")
        return found.id

    def named(self, role: Role) -> dict[str, Person]:
        """Everyone of a role by name: names are encrypted, so they are read (and decrypted) once per import."""
        if role not in self._named:
            self._named[role] = {p.name: p for p in self.session.exec(select(Person).where(Person.role == role))}
        return self._named[role]

    def _check_failed(self, value: str, name: str) -> None:
        if value in self.failed:
            raise InputError(name, f"{value!r} is on row {self.failed[value]}, which has an error of its own")

    def worker(self, value: str, name: str) -> int | None:
        """A worker named by e-mail or by ref."""
        if not value:
            return None
        self._check_failed(value, name)
        person = self.by_ref.get(value) or (by_email(self.session, email=value) if "@" in value else None)
        if person is None or not person.is_staff:
            raise InputError(name, f"{value!r} is no worker in this file (ref) or in Tett på (e-mail)")
        return person.id

    def youth(self, value: str) -> int:
        """A youth named by ref or, for someone already in Tett på, #ID."""
        if not value:
            raise InputError("youth", "a parent needs the youth they are the parent of (ref or #ID)")
        self._check_failed(value, "youth")
        if value.startswith("#") and value[1:].isdigit():
            person = self.session.get(Person, int(value[1:]))
        else:
            person = self.by_ref.get(value)
        if person is None or person.role != Role.youth:
            raise InputError("youth", f"{value!r} is no youth in this file (ref) or in Tett på (#ID)")
        return person.id

    def add(self, row: dict[str, str]) -> None:
        role_name = row.get("role", "").lower()
        role = STAFF.get(role_name) or {"youth": Role.youth, "parent": Role.parent}.get(role_name)
        if role is None:
            raise InputError("role", f"{row.get('role')!r} is not a role (worker, coordinator, admin, youth or parent)")
        existing = _same_person(self.session, row, role, self.named(role))
        if existing is not None:
            if existing.role != role:
                raise InputError("role", f"this person is already in Tett på as {existing.role}")
            self.by_ref[row["ref"]] = existing
            self.result.existing += 1
            return
        common = {"name": row["name"], "phone": row.get("phone") or None,
                  "language": row.get("language") or "nb", **self.kw}
        unit = self.unit(row.get("unit", ""))
        if role in STAFF.values():
            invited = roster.add_worker(self.session, email=row.get("email") or None, role=role_name, unit=unit,
                                        **common)
        elif role == Role.youth:
            invited = roster.add_youth(self.session, primary=self._primary(row),
                                       secondary=self.worker(row.get("secondary", ""), "secondary"), unit=unit,
                                       period_from=_date(row.get("period_from", ""), "period_from"),
                                       period_until=_date(row.get("period_until", ""), "period_until"), **common)
        else:
            invited = roster.add_parent(self.session, youth=self.youth(row.get("youth", "")), **common)
        if role not in STAFF.values():
            invited.person.email = _email(row.get("email", ""))  # found by it next time
        self.by_ref[row["ref"]] = invited.person
        self.named(role).setdefault(invited.person.name, invited.person)
        self.result.created.append(Imported(row["ref"], invited.person.id, invited.person.name, role_name,
                                            invited.code, invited.link))

    def _primary(self, row: dict[str, str]) -> int:
        primary = self.worker(row.get("primary", ""), "primary")
        if primary is None:
            raise InputError("primary", "a youth needs a primary worker (e-mail or ref)")
        return primary


def _order(row: dict[str, str]) -> int:
    """Workers first, then youths, then parents: each may name those before it, wherever they stand."""
    return {"worker": 0, "coordinator": 0, "admin": 0, "youth": 1, "parent": 2}.get(row.get("role", "").lower(), 3)


def import_people(service: Service, session: Session, data: bytes, *, dry_run: bool = False) -> Result:
    """Check every row and create the people, or nothing; the session is rolled back on any error."""
    result = Result()
    rows, result.errors = read(data)
    if result.errors:
        return result
    refs: dict[str, int] = {}
    for row in rows:
        number = int(row["_row"])
        for name in REQUIRED:
            if not row.get(name):
                result.errors.append(RowError(number, name, f"{name} is empty"))
        if row.get("ref") in refs:
            result.errors.append(RowError(number, "ref", f"{row['ref']!r} is also on row {refs[row['ref']]}"))
        refs.setdefault(row.get("ref", ""), number)
    run = _Run(service, session, result)
    try:
        with session.begin_nested():
            for row in sorted(rows, key=_order):
                number = int(row["_row"])
                if any(error.row == number for error in result.errors):
                    run.failed.setdefault(row.get("ref", ""), number)
                    continue
                try:
                    with session.begin_nested():
                        run.add(row)
                except InputError as exc:
                    run.failed.setdefault(row.get("ref", ""), number)
                    result.errors.append(RowError(number, exc.field.replace("-", "_"), exc.message))
            if result.errors or dry_run:
                raise ImportFailed
    except ImportFailed:
        if result.errors:
            result.created = []
        else:  # a dry run: who would be created, without ids or codes (none were kept)
            result.created = [Imported(c.ref, None, c.name, c.role, None, None) for c in result.created]
    result.errors.sort(key=lambda error: (error.row, COLUMNS.index(error.field) if error.field in COLUMNS else 99))
    return result
