"""Who may do what: every authorization rule of the product, in one place.

Routes declare what they need (`Access`); the page wrapper (`trainer.web.pages`) and the API
dependencies (`trainer.people.api`) enforce it before any handler runs. Object-level rules
(may this manager see that inspector?) are the functions below, called by the services that
load the objects, so a handler cannot forget them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Access(Enum):
    PUBLIC = "public"  # anyone, signed in or not (login page, health check, verification)
    LIBRARY = "library"  # anyone while TRAINER_PUBLIC_LIBRARY is true; otherwise signed-in users
    SIGNED_IN = "signed-in"  # any active account
    TRAINER = "trainer"
    MANAGER = "manager"
    ADMIN = "admin"
    ORGANISER = "organiser"  # trainers or managers (exam sittings; managers within their subtree)


# Admins may do everything a role-gated route allows.
_ROLE_FOR = {Access.TRAINER: "trainer", Access.MANAGER: "manager", Access.ADMIN: "admin"}


@dataclass(frozen=True)
class Viewer:
    """The signed-in person making a request, as loaded for this request only."""

    id: int
    username: str
    full_name: str
    roles: frozenset[str]
    unit_id: int | None
    unit_lineage: str | None  # "/1/4/9/": see Unit.lineage
    unit_name: str | None
    unit_path: str | None
    must_change_password: bool
    session_id: int | None = None  # browser session
    token_id: int | None = None  # API token

    def has_role(self, role: str) -> bool:
        return role in self.roles or "admin" in self.roles

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


def allows(access: Access, viewer: Viewer | None, *, public_library: bool) -> bool:
    """May `viewer` (None: not signed in) use a route that requires `access`?"""
    if access is Access.PUBLIC:
        return True
    if access is Access.LIBRARY and public_library:
        return True
    if viewer is None:
        return False
    if access in (Access.LIBRARY, Access.SIGNED_IN):
        return True
    if access is Access.ORGANISER:
        return viewer.has_role("trainer") or viewer.has_role("manager")
    return viewer.has_role(_ROLE_FOR[access])


def manages(viewer: Viewer, unit_lineage: str | None) -> bool:
    """Is a unit (by lineage) inside the part of the organisation this viewer manages?"""
    if viewer.is_admin:
        return True
    if "manager" not in viewer.roles or viewer.unit_lineage is None or unit_lineage is None:
        return False
    return unit_lineage.startswith(viewer.unit_lineage)


def may_view_person(viewer: Viewer, person_id: int, person_unit_lineage: str | None) -> bool:
    """Inspectors see their own record; managers their subtree; admins everyone."""
    return viewer.id == person_id or manages(viewer, person_unit_lineage)
