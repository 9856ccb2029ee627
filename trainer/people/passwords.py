"""Password hashing and the password rules.

argon2id through argon2-cffi (maintained; passlib is not) at the OWASP-recommended minimum:
19 MiB of memory, 2 iterations, 1 lane. Hashes record their own parameters, so raising them
later re-hashes each password at its owner's next login (`needs_rehash`).
"""

from __future__ import annotations

import secrets
import unicodedata
from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from trainer.i18n import N_

MIN_LENGTH = 12  # OWASP ASVS 2.1.1
MAX_LENGTH = 128
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# A hash of a random password: checking against it when the username is unknown makes a failed
# login take as long as a wrong password, so response times do not reveal which accounts exist.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))
_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/l/I


def hash_password(password: str) -> str:
    return _HASHER.hash(_normalise(password))


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return (
            _HASHER.verify(password_hash or _DUMMY_HASH, _normalise(password)) and password_hash is not None
        )
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _HASHER.check_needs_rehash(password_hash)


def generate_password(length: int = 16) -> str:
    """A random initial password: 16 characters from 55 is about 92 bits."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def _normalise(password: str) -> str:
    # The same password typed on a phone or a desktop keyboard may differ in Unicode form.
    return unicodedata.normalize("NFKC", password)


def password_problems(password: str, *, username: str = "", full_name: str = "") -> list[str]:
    """What is wrong with a new password, as interface messages (empty: acceptable)."""
    problems = []
    normalised = _normalise(password)
    if len(normalised) < MIN_LENGTH:
        problems.append(N_("Use at least 12 characters."))
    if len(normalised) > MAX_LENGTH:
        problems.append(N_("Use at most 128 characters."))
    folded = normalised.casefold()
    if folded in common_passwords() or len(set(folded)) <= 3:
        problems.append(N_("This password is too common or too simple to guess."))
    if username and username.casefold() in folded:
        problems.append(N_("The password must not contain the username."))
    if full_name and len(full_name) >= 3 and full_name.casefold().replace(" ", "") in folded.replace(" ", ""):
        problems.append(N_("The password must not contain your name."))
    return problems


@cache
def common_passwords() -> frozenset[str]:
    path = Path(__file__).with_name("common-passwords.txt")
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().casefold() for line in lines if line.strip() and not line.startswith("#"))
