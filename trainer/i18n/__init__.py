"""Translatable labels, at the bottom of the layering: `N_` marks a msgid where it is defined, and
the label tables (domains, roles, unit kinds, certificate states) give each stored value its
msgid. Services, pages and templates all name things with these; the catalogues beside this file
translate them where they are shown (`trainer.web.i18n`)."""

from __future__ import annotations


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
