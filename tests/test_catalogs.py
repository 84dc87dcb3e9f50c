"""The translation catalogs against the code: every text a person sees exists in every language.

Catalogs are locales/<lang>/LC_MESSAGES/tettpa.po; nb is the source language (its msgids are the texts),
so it has none. The msgids are extracted here from the code itself, with babel.cfg and the Makefile's
keywords, so a locales/tettpa.pot that nobody re-extracted cannot hide a new text.

When texts are added or changed:
    make messages        # re-extract locales/tettpa.pot and merge it into every catalog
    # translate the new, empty entries (and drop "#, fuzzy" once checked) in each catalog
    .venv/bin/pytest -q tests/test_catalogs.py
"""

from __future__ import annotations

import ast
import gettext
import re
import string
import unicodedata
from functools import cache
from pathlib import Path

import pytest
from babel import Locale
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po

from bot.i18n import SOURCE, Lang

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ROOT / "locales"
DOMAIN = "tettpa"
KEYWORDS = {"_": None, "n_": (1, 2)}  # the Makefile's -k _ -k n_:1,2
LANGUAGES = sorted(
    p.parent.parent.name for p in LOCALES.glob(f"*/LC_MESSAGES/{DOMAIN}.po") if p.parent.parent.name != SOURCE
)
RLM, LRM = "\u200f", "\u200e"
# Numbers up to here decide which plural form covers which numbers.
PLURAL_RANGE = range(1000)


# --- the msgids in the code and the catalogs ------------------------------------------------------------


@cache
def code_msgids() -> dict[str | tuple[str, str], str]:
    """Every msgid in the code (a (singular, plural) pair for n_), with the first place it is used."""
    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh, "babel.cfg")
    found: dict[str | tuple[str, str], str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        ROOT, method_map, options_map, keywords=KEYWORDS
    ):
        found.setdefault(message, f"{filename}:{lineno}")
    return found


@cache
def catalog(language: str) -> Catalog:
    with (LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as fh:
        return read_po(fh, locale=language)


def entries(language: str) -> list[Message]:
    return [m for m in catalog(language) if m.id and m.string]


def singular(msgid: str | tuple[str, str]) -> str:
    return msgid[0] if isinstance(msgid, tuple) else msgid


def forms(message: Message) -> list[str]:
    return list(message.string) if isinstance(message.string, tuple) else [message.string]


@cache
def plural_index(language: str):
    return gettext.c2py(catalog(language).plural_expr)


@cache
def one_number_forms(language: str) -> frozenset[int]:
    """Plural forms that cover a single number (Arabic 0, 1 and 2): these may leave out {n}."""
    pick = plural_index(language)
    covered: dict[int, set[int]] = {}
    for n in PLURAL_RANGE:
        covered.setdefault(pick(n), set()).add(n)
    return frozenset(i for i, numbers in covered.items() if len(numbers) == 1)


def fields(text: str) -> set[str]:
    """The str.format placeholders of a text; ValueError if its braces are broken."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def plain(text: str) -> str:
    return text.replace(RLM, "").replace(LRM, "")


# --- every msgid translated, with the same placeholders --------------------------------------------------


def test_it_finds_the_msgids_in_the_code():
    ids = code_msgids()
    assert "Du er nå tilgjengelig." in ids, "extraction found nothing: is babel.cfg still what make messages uses?"
    assert any(isinstance(i, tuple) for i in ids), "no n_() plurals extracted"


@pytest.mark.parametrize("language", LANGUAGES)
def test_it_translates_every_msgid_of_the_code(language):
    cat = catalog(language)
    problems = []
    for msgid, where in sorted(code_msgids().items(), key=lambda item: singular(item[0])):
        message = cat.get(singular(msgid))
        if message is None:
            problems.append(f"missing ({where}): {singular(msgid)!r}")
        elif message.fuzzy:
            problems.append(f"fuzzy, so not used at run time ({where}): {singular(msgid)!r}")
        elif isinstance(msgid, tuple) and message.id != msgid:
            problems.append(f"plural msgid differs ({where}): {message.id!r} in the catalog, {msgid!r} in the code")
        elif isinstance(msgid, tuple) and len(forms(message)) != cat.num_plurals:
            problems.append(f"{len(forms(message))} plural forms, {language} has {cat.num_plurals}: {msgid[0]!r}")
        elif not all(f.strip() for f in forms(message)):
            problems.append(f"untranslated ({where}): {singular(msgid)!r}")
    assert not problems, (
        f"{language}: {len(problems)} texts of the code are not translated in "
        f"locales/{language}/LC_MESSAGES/{DOMAIN}.po (run `make messages`, then translate):\n  "
        + "\n  ".join(problems)
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_it_keeps_the_placeholders_of_each_msgid(language):
    problems = []
    for message in entries(language):
        if isinstance(message.id, tuple):
            wanted = fields(message.id[1])
            for index, text in enumerate(forms(message)):
                try:
                    got = fields(text)
                except ValueError as exc:
                    problems.append(f"form {index} has broken braces ({exc}): {text!r}")
                    continue
                optional = {"n"} if index in one_number_forms(language) else set()
                if not (wanted - optional <= got <= wanted):
                    problems.append(f"form {index}: {sorted(got)} instead of {sorted(wanted)}: {text!r}")
        else:
            try:
                got = fields(message.string)
            except ValueError as exc:
                problems.append(f"broken braces ({exc}): {message.string!r}")
                continue
            if got != fields(message.id):
                problems.append(f"{sorted(got)} instead of {sorted(fields(message.id))}: {message.string!r}")
    assert not problems, f"{language}: placeholders differ from the msgid:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("language", LANGUAGES)
def test_it_uses_the_plural_rule_babel_has_for_the_language(language):
    """With or without a Plural-Forms header (`make messages` merges with --omit-header and drops it), the
    forms must mean what Babel's CLDR rule says; a hand-written rule in another order would swap forms."""
    cat = catalog(language)
    expected = get_plural(language)
    pick = gettext.c2py(expected.plural_expr)
    assert cat.num_plurals == expected.num_plurals
    assert [plural_index(language)(n) for n in PLURAL_RANGE] == [pick(n) for n in PLURAL_RANGE], (
        f"{language}: Plural-Forms {cat.plural_expr!r} orders the forms unlike Babel's {expected.plural_expr!r}"
    )


# Emergency numbers, commands, examples, keywords and names must reach the reader as they are.
KEPT = re.compile(
    r"(?<![\w/])/[a-z]+\b|#\d+\b|\b\d{3} \d{3}\b|\b\d{3}\b|\bABCD2345\b|\b(?:START|STOPP?)\b|\bTETTPA_[A-Z_]+\b"
)
NAMES = ("Tett på", "Telegram", "Mental Helse", "Alarmtelefonen", "SMS")


@pytest.mark.parametrize("language", LANGUAGES)
def test_it_keeps_numbers_commands_and_names(language):
    problems = []
    for message in entries(language):
        source = message.id[1] if isinstance(message.id, tuple) else message.id
        for text in forms(message):
            text = plain(text)
            missing = {t for t in KEPT.findall(source) if t not in KEPT.findall(text)}
            missing |= {name for name in NAMES if name in source and name not in text}
            if missing:
                problems.append(f"{sorted(missing)} missing: {text!r}")
    assert not problems, f"{language}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("language", LANGUAGES)
def test_it_quotes_its_own_button_labels_as_translated(language):
    """A text that quotes another msgid («Jeg tar den») quotes that msgid's translation."""
    translated = {m.id: plain(m.string) for m in entries(language) if isinstance(m.id, str)}
    problems = [
        f"{translated[quoted]!r} not in {translated[msgid]!r}"
        for msgid in translated
        for quoted in re.findall(r"«([^»]+)»", msgid)
        if quoted in translated and translated[quoted] not in translated[msgid]
    ]
    assert not problems, f"{language}:\n  " + "\n  ".join(problems)


RTL_LANGUAGES = [lang for lang in LANGUAGES if Locale.parse(lang).character_order == "right-to-left"]
# Embeddings, overrides, isolates and the Arabic letter mark: the catalogs use only RLM and LRM.
OTHER_BIDI_CONTROLS = re.compile("[\u061c\u202a-\u202e\u2066-\u2069]")


def first_strong(line: str) -> str | None:
    """The mark or direction that decides a line's direction; a placeholder counts as Latin (a name)."""
    for char in line:
        if char in (RLM, LRM):
            return char
        if char == "{":
            return "L"
        if unicodedata.bidirectional(char) in ("L", "R", "AL"):
            return unicodedata.bidirectional(char)
    return None


def strong_before(text: str, index: int) -> str | None:
    """The mark (RLM, LRM) or direction (L, R, AL) of the last strong character before text[index]."""
    for char in reversed(text[:index]):
        if char in (RLM, LRM):
            return char
        if unicodedata.bidirectional(char) in ("L", "R", "AL"):
            return unicodedata.bidirectional(char)
    return None


@pytest.mark.parametrize("language", RTL_LANGUAGES)
def test_it_marks_right_to_left_text_for_telegram_and_sms(language):
    """The rules in the header comment of locales/ar/LC_MESSAGES/tettpa.po: a line that does not start with
    an Arabic letter opens with RLM, each placeholder is followed by RLM, commands and tags get LRM in
    front, and so do digits in groups ("116 123") unless they follow Latin text ("/borte 01.12 05.12")."""
    problems = []
    for message in entries(language):
        for text in forms(message):
            if any(first_strong(line) not in (RLM, "R", "AL") for line in text.split("\n") if line):
                problems.append(f"a line starts with Latin text, a number or a placeholder but no RLM: {text!r}")
            if re.search(r"\{\w*\}(?!\u200f)", text):
                problems.append(f"a placeholder is not followed by RLM: {text!r}")
            if re.search(r"(?<![\u200e\w(/])/[a-z]|(?<![\u200e\w])#\d", text):
                problems.append(f"a command or #tag without LRM in front: {text!r}")
            for group in re.finditer(r"\d[\d.:]*(?: \d[\d.:]*)+", text):
                if strong_before(text, group.start()) not in (LRM, "L"):
                    problems.append(f"digits in groups ({group.group()!r}) without LRM in front: {text!r}")
            if OTHER_BIDI_CONTROLS.search(text):
                problems.append(f"a bidi control other than RLM/LRM: {text!r}")
    assert not problems, f"{language}:\n  " + "\n  ".join(problems)


# --- at run time ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_it_answers_in_the_language_at_run_time(language):
    L = Lang(language)
    assert L.code == language, f"locales/{language} exists but bot.i18n does not offer {language!r}"
    differs = False
    for message in entries(language):
        if isinstance(message.id, tuple):
            values = {name: "Ola" for name in fields(message.id[1]) if name != "n"}
            for n in (0, 1, 2, 3, 5, 11, 21, 22, 100, 101, 111):
                expected = forms(message)[plural_index(language)(n)].format(n=n, **values)
                assert L.n_(*message.id, n, **values) == expected
        else:
            assert L._(message.id) == message.string
            differs = differs or message.string != message.id
    assert differs, f"{language}: every text came back as the nb msgid; the catalog did not load"


# --- no text around gettext -----------------------------------------------------------------------------

# The stand-ins (standins/, beside these) are not scanned: they speak Telegram's and Twilio's (English)
# texts, not ours.
SCANNED = ("bot", "handlers", "scheduling")
# Strings that are not texts for the people the service talks to, each with the reason: "file" exempts a
# file, "file:NAME" a module-level assignment, function or class, "file:Class.method" a method.
# Members of set literals are exempt everywhere: a set is only asked "is this word in it?", never shown.
EXEMPT = {
    "handlers/cli/main.py": "the operator's command line: typer help and output texts, English by design",
    "handlers/cli/activities.py": "the operator's activity and notice commands: typer help and output, English by design",
    "handlers/cli/admin.py": "the operator's privacy commands: typer help and prompts, English by design",
    "handlers/cli/programme.py": "the operator's programme commands: typer help and output texts, English by design",
    "bot/status_codes.py:CODES": "Udir's code list with its own Norwegian labels, the same on every report",
    "bot/status_codes.py:GROUPS": "Udir's groups of the code list, with their own Norwegian names",
    "handlers/cli/golive.py": "the operator's connect and doctor commands: typer help and output, English by design",
    "handlers/cli/doctor.py": "the operator's set-up checks (`tettpa doctor`), English like the rest of the command line",
    "bot/run/app.py:Runtime.metrics": "descriptions of the /metrics counters, read by operators' monitoring",
    "bot/settings.py:Settings.oidc_label": "the sign-on button's default label; shown through gettext",
    "bot/acute.py:BUILT_IN": "crisis words matched in incoming messages, never shown to anyone",
    "scheduling/school_holidays.py:_FROM": "column names read from an imported holiday CSV",
    "scheduling/school_holidays.py:_UNTIL": "column names read from an imported holiday CSV",
}
GETTEXT = {"_": 1, "n_": 2}  # function -> how many leading arguments are msgids
LOG_METHODS = {"debug", "info", "warning", "warn", "error", "exception", "critical", "log"}
LOGGERS = {"log", "logger", "logging", "_log", "_logger"}
NORWEGIAN = re.compile(
    r"[æøåÆØÅ]|\b(?:du|deg|din|ditt|dine|jeg|eg|er|og|ikke|ikkje|til|på|med|har|kan|fra|frå|hei|takk|når|nå|"
    r"det|den|som|skal|vil|meldinga?|meldingen|meldinger|kontaktperson\w*)\b",
    re.IGNORECASE,
)
SENTENCE_END = re.compile(r"[.!?:…]['\"»”]*\s*$")


def looks_like_text(value: str) -> bool:
    """A sentence or phrase for a person: two words in a row, and a Norwegian word or a sentence end.
    Names are not texts: "Tett på" alone is the service's name, the same in every language."""
    for name in NAMES:
        value = value.replace(name, " ")
    value = value.strip()
    return (re.search(r"[^\W\d_]{2,} +[^\W\d_]{2,}", value) is not None
            and (NORWEGIAN.search(value) is not None or SENTENCE_END.search(value) is not None))


def _name(func: ast.expr) -> str | None:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _defined(tree: ast.Module, qualname: str) -> list[ast.AST]:
    """The module-level assignment, function or class named NAME, or the method in "Class.method"."""

    def names(node: ast.stmt) -> list[str | None]:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            return [node.name]
        if isinstance(node, ast.Assign):
            return [_name(t) for t in node.targets]
        if isinstance(node, ast.AnnAssign):
            return [_name(node.target)]
        return []

    scope, found = tree.body, []
    for part in qualname.split("."):
        found = [node for node in scope if part in names(node)]
        scope = [child for node in found for child in getattr(node, "body", [])]
    return found


def bypasses(source: str, path: str = "<string>") -> list[str]:
    """file:line and text of each string literal that looks like a text but does not go through _/n_."""
    if path in EXEMPT:
        return []
    tree = ast.parse(source)
    allowed: set[int] = set()

    def allow(node: ast.AST) -> None:
        allowed.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and body \
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            allow(body[0])  # docstring
        if isinstance(node, ast.Call):
            name = _name(node.func)
            if name in GETTEXT:
                for arg in node.args[: GETTEXT[name]]:
                    allow(arg)
            elif name in LOG_METHODS and isinstance(node.func, ast.Attribute) and \
                    _name(node.func.value) in LOGGERS:
                allow(node)
        if isinstance(node, ast.Set):
            allow(node)
    for key in EXEMPT:
        file, _, qualname = key.partition(":")
        if file == path and qualname:
            for node in _defined(tree, qualname):
                allow(node)
    found = []
    for node in ast.walk(tree):
        if id(node) in allowed:
            continue
        if isinstance(node, ast.JoinedStr):
            allowed.update(id(v) for v in node.values)  # judged as a whole below, not part by part
            value = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            value = node.value
        else:
            continue
        if looks_like_text(value):
            found.append(f"{path}:{node.lineno}: {value!r}")
    return found


def scanned_files() -> list[Path]:
    files = []
    for top in SCANNED:
        files += sorted((ROOT / top).rglob("*.py"))
    return files


def test_it_flags_a_text_that_bypasses_gettext():
    source = '''
def greet(L, service, session, inc, name):
    """Hei, du er koblet til."""
    log.info("Hei, du er koblet til %s.", name)
    reply(service, session, inc, L._("Hei, du er koblet til."))
    reply(service, session, inc, L.n_("{n} melding til deg.", "{n} meldinger til deg.", 2))
    reply(service, session, inc, "Hei, du er koblet til")
    reply(service, session, inc, f"Takk, {name}! Meldingen er sendt.")
    return {"key": "value", "format": "%Y-%m-%d %H:%M", "kind": "take:1"}
'''
    assert [line.split(": ", 1)[0] for line in bypasses(source)] == ["<string>:7", "<string>:8"]


def test_it_sends_no_norwegian_text_around_gettext():
    found = []
    for file in scanned_files():
        found += bypasses(file.read_text(encoding="utf-8"), file.relative_to(ROOT).as_posix())
    assert not found, (
        "texts for people that do not go through L._()/L.n_() (so they are never translated); wrap them, or "
        "add the file to EXEMPT in tests/test_catalogs.py with the reason it is not a text for people:\n  "
        + "\n  ".join(found)
    )


# --- every gettext call reaches the catalogs -------------------------------------------------------------

# Calls that gettext sees at run time but extraction cannot: a msgid inside an f-string (Python 3.11's
# tokenizer hands Babel the whole f-string as one token) or a msgid in a variable. Keyed by file and call, not
# line, so edits elsewhere do not move them. Remove an entry when its call is fixed.
KNOWN_UNEXTRACTED: set[tuple[str, str]] = set()


def unextracted_calls() -> list[tuple[str, int, str]]:
    """(file, line, call) of each _()/n_() call whose msgid extraction does not find."""
    ids = {singular(msgid) for msgid in code_msgids()}
    found = []
    for top in SCANNED:
        for file in sorted((ROOT / top).rglob("*.py")):
            for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
                if not (isinstance(node, ast.Call) and _name(node.func) in GETTEXT and node.args):
                    continue
                first = node.args[0]
                literal = isinstance(first, ast.Constant) and isinstance(first.value, str)
                if not literal or first.value not in ids:
                    found.append((file.relative_to(ROOT).as_posix(), node.lineno, ast.unparse(node)))
    return found


def test_it_extracts_every_gettext_call_in_the_code():
    found = unextracted_calls()
    assert not found, "msgids that extraction cannot see (never translated):\n  " + "\n  ".join(
        f"{file}:{line}: {call}" for file, line, call in found
    )


def test_it_finds_no_unextracted_gettext_call_besides_the_known_ones():
    found = [(file, line, call) for file, line, call in unextracted_calls()
             if (file, call) not in KNOWN_UNEXTRACTED]
    assert not found, "msgids that extraction cannot see (never translated): write the msgid as a plain string " \
        "literal in the _() call itself:\n  " + "\n  ".join(f"{file}:{line}: {call}" for file, line, call in found)
