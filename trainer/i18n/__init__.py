"""Translatable labels, at the bottom of the layering: `N_` marks a msgid where it is defined, and
the label tables (domains, roles, unit kinds, certificate states) give each stored value its
msgid. Services, pages and templates all name things with these; the catalogues beside this file
translate them where they are shown (`trainer.web.i18n`), or, for the few words stored in a
paper (true/false), where the paper is made (`catalogue`).

Catalogues are read directly at start-up (`trainer/i18n/<locale>/LC_MESSAGES/messages.po`), so
there is no compile step to forget.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

CATALOG_DIR = Path(__file__).resolve().parent


def locale_dir_name(lang: str) -> str:
    return lang.replace("-", "_")


@cache
def catalogue(lang: str) -> NullTranslations:
    """The gettext catalogue for `lang` (English is the source language: no catalogue)."""
    if lang == "en":
        return NullTranslations()
    po_file = CATALOG_DIR / locale_dir_name(lang) / "LC_MESSAGES" / "messages.po"
    with po_file.open("rb") as handle:
        po = read_po(handle, locale=locale_dir_name(lang))
    buffer = io.BytesIO()
    write_mo(buffer, po)
    buffer.seek(0)
    return Translations(buffer)


def N_(message: str) -> str:  # noqa: N802 (gettext convention)
    """Mark a string for translation where it is defined; it is translated where it is shown."""
    return message


DOMAIN_LABELS = {
    "enforcement": N_("Enforcement law and procedure"),
    "coal": N_("Coal mines"),
    "gas": N_("Gas"),
    "hazchem": N_("Hazardous chemicals"),
    "fire": N_("Fire safety"),
    "emergency": N_("Emergency response"),
}

# A regulation's status (regulations.yaml) as pages show it beside a citation.
REGULATION_STATUS_LABELS = {
    "in-force": N_("In force"),
    "amended": N_("Amended since this edition"),
    "repealed": N_("Repealed"),
}


ROLE_LABELS = {
    "inspector": N_("Inspector"),
    "trainer": N_("Trainer"),
    "manager": N_("Manager"),
    "admin": N_("Administrator"),
}
UNIT_KIND_LABELS = {
    "province": N_("Province"),
    "city": N_("City or prefecture"),
    "county": N_("County or district"),
    "unit": N_("Unit"),
}

# Certificate states as managers read them in roll-ups and lists (short: they head columns).
STATE_LABELS = {
    "valid": N_("Valid"),
    "due_for_renewal": N_("Due for renewal"),
    "grace": N_("In grace period"),
    "expired": N_("Expired"),
    "suspended": N_("Suspended"),
    "revoked": N_("Revoked"),
    "never_certified": N_("Never certified"),
    "superseded": N_("Replaced by a renewed certificate"),
}
# The same states as a holder and the public verification page read them: what they mean for
# whether the certificate may be relied on today.
STATE_DESCRIPTIONS = {
    **STATE_LABELS,
    "due_for_renewal": N_("Valid (due for renewal)"),
    "grace": N_("Expired: in the renewal grace period"),
}

# A true/false question's two options, stored in a paper in the paper's language.
TRUTH_LABELS = {"true": N_("True"), "false": N_("False")}
