"""A worker's command is one entry of handlers.telegram.commands.COMMANDS (name, aliases, handler, help line): the
handlers are wired from it and /help is built from it, one translated line per command."""

from __future__ import annotations

import pytest
from telegram.ext import ApplicationBuilder, CommandHandler

from bot.i18n import LANGUAGES, Lang
from handlers.telegram import commands as edge

BEFORE = (  # the 14-line help the registry replaced, word for word, with the lines added since
    "Slik bruker du Tett på:\n"
    "• Svar på en videresendt melding med «Svar», så går svaret til ungdommen eller forelderen.\n"
    "• «Jeg tar den» sier fra at du tar en melding uten å svare ennå.\n"
    "• /off (/av): du er ikke tilgjengelig, meldinger går til den andre kontaktpersonen.\n"
    "• /on (/pa): du er tilgjengelig igjen og får det som kom mens du var borte.\n"
    "• /timer: vis eller endre timene dine, for eksempel /timer man-fre 15:00-23:00.\n"
    "• /borte: registrer fravær, for eksempel /borte 01.12 05.12 eller /borte i dag.\n"
    "• /sprak som svar på en videresendt melding: velg språket den personen får meldinger på.\n"
    "• /vekking: vekking for en ungdom (legg til, vis, pause, stopp).\n"
    "• /mote: møter med påminnelser (legg til, vis, avlys).\n"
    "• /aktivitet: inviter ungdommer til en aktivitet, steg for steg; svarene kommer samlet.\n"  # issue 17
    "• /notat: skriv et notat i kontaktloggen (som svar på en videresendt melding, eller med navnet på "
    "ungdommen).\n"
    # Added since, as one entry of the registry: consent (issue 16).
    "• /samtykke som svar på en videresendt melding, eller med navnet: registrer samtykke (kontakt, vekking, "
    "foresatte, SMS); «/samtykke trekk» trekker det tilbake.\n"
    "• /help: denne hjelpen."
)


def test_it_builds_the_help_from_the_registry():
    assert edge.worker_help(Lang("nb")) == BEFORE


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "nb"])
def test_it_translates_each_help_line(language):
    text = edge.worker_help(Lang(language))
    lines = text.split("\n")
    assert len(lines) == len(BEFORE.split("\n"))
    assert all(line and line not in BEFORE.split("\n")[1:] for line in lines[1:]), "a line left in Bokmål"


def test_it_names_each_command_once_and_in_its_own_help_line():
    names = [name for command in edge.COMMANDS for name in command.names]
    assert len(names) == len(set(names))
    nb = Lang("nb")
    for command in edge.COMMANDS:
        if command.help is not None:
            assert f"/{command.name}" in command.help(nb).split(":")[0]


def test_it_wires_every_registered_command_and_nothing_else():
    application = ApplicationBuilder().token("123:TEST").build()
    edge.register(application, service=object())
    wired = {name for group in application.handlers.values() for h in group if isinstance(h, CommandHandler)
             for name in h.commands}
    assert wired == {name for command in edge.COMMANDS for name in command.names}
