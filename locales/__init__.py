"""Translations: <lang>/LC_MESSAGES/tettpa.po (a package only so a wheel carries them; see bot/i18n.py)."""
