"""Settings, read from `TRAINER_*` environment variables (and a `.env` file if present).

The embedded default needs no settings at all: SQLite under `data/`, the sample content in this
checkout, and a secret key generated on first start and kept in `data/secret_key`. Production mode
refuses to start without a strong `TRAINER_SECRET_KEY`.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from trainer.localtime import DEFAULT_TIME_ZONE, load_zone

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SUPPORTED_LANGUAGES = ("en", "zh-CN")
Language = Literal["en", "zh-CN"]

# Values that must never be accepted as a production secret.
_WEAK_SECRETS = {"changeme", "change-me", "secret", "password", "dev", "development", "test"}
MIN_SECRET_LENGTH = 32


class SettingsError(Exception):
    """The settings are not usable in the chosen mode; the message says what to set."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRAINER_", env_file=".env", extra="ignore")

    env: Literal["development", "production"] = "development"
    data_dir: Path = PROJECT_ROOT / "data"
    database_url: str = ""  # empty: SQLite file in data_dir
    courses_dir: Path = PROJECT_ROOT / "courses"
    question_bank_dir: Path = PROJECT_ROOT / "question_bank"
    static_dir: Path = PROJECT_ROOT / "static"
    secret_key: str = Field(default="", repr=False)
    default_language: Language = "en"
    # Every date and time people read (pages, exports, reminders) and the months reports count
    # are in this IANA zone; storage and the JSON API stay in UTC. Checked by `prepared()`.
    time_zone: str = DEFAULT_TIME_ZONE
    # Outgoing email (renewal reminders); empty host: no sending.
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_user: str = ""
    smtp_password: str = Field(default="", repr=False)
    smtp_starttls: bool = True
    smtp_from: str = "trainer@localhost"
    # Public certificate verification: requests per minute from one address (across processes).
    verify_per_minute: int = Field(default=30, ge=1, le=100_000)
    # The address the public reaches the site at, for QR codes and badges (default: as requested).
    public_url: str = ""
    issuer_name: str = "Provincial Work Safety Committee (sample)"
    # Certificate numbers read PREFIX-DOMAIN-YEAR-NNNNNN, e.g. HLJ-COAL-2026-000123.
    certificate_prefix: str = Field(default="HLJ", pattern=r"^[A-Z0-9]{1,10}$")
    # The course library (catalogue, modules, search) is readable without signing in.
    public_library: bool = True
    session_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    session_max_hours: int = Field(default=12, ge=1, le=24 * 30)
    api_token_hours: int = Field(default=24, ge=1, le=24 * 90)
    # Re-read content files when they change (authors previewing edits). `trainer serve --reload`.
    content_reload: bool = False
    # Connection pool per app process; keep pool_size >= the threadpool's busy threads.
    db_pool_size: int = Field(default=20, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=200)

    @field_validator("default_language", mode="before")
    @classmethod
    def _normalise_language(cls, value: object) -> object:
        if isinstance(value, str) and value.lower().replace("_", "-") in ("zh", "zh-cn"):
            return "zh-CN"
        return value

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def zone(self) -> ZoneInfo:
        try:
            return load_zone(self.time_zone)
        except ValueError as error:
            raise SettingsError(str(error)) from None

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'trainer.db').as_posix()}"

    def prepared(self) -> Settings:
        """Check the settings for the mode, filling in what the embedded default may generate.

        In development a missing secret key is generated once and kept in the data folder, so
        sessions survive restarts. In production nothing is generated: a missing or weak key is
        an error. An unknown time zone is an error in every mode.
        """
        self.zone  # noqa: B018 (raises SettingsError, naming the setting, before anything starts)
        if self.is_production:
            check_secret_strength(self.secret_key)
            return self
        if self.secret_key:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key_file = self.data_dir / "secret_key"
        if not key_file.exists():
            key_file.write_text(secrets.token_urlsafe(48), encoding="ascii")
            key_file.chmod(0o600)
        return self.model_copy(update={"secret_key": key_file.read_text(encoding="ascii").strip()})


def check_secret_strength(key: str) -> None:
    if not key:
        raise SettingsError(
            "TRAINER_SECRET_KEY is required in production; generate one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
        )
    if len(key) < MIN_SECRET_LENGTH or key.lower() in _WEAK_SECRETS or len(set(key)) < 10:
        raise SettingsError(
            f"TRAINER_SECRET_KEY is too weak: use at least {MIN_SECRET_LENGTH} random characters"
        )
