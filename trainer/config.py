"""Settings, read from `TRAINER_*` environment variables (and a `.env` file if present).

The embedded default needs no settings at all: SQLite under `data/`, the sample content in this
checkout, and a secret key and a badge signing key generated on first start and kept in
`data/secret_key` and `data/badge_key`. Production mode refuses to start without a strong
`TRAINER_SECRET_KEY` and a `TRAINER_BADGE_KEY`.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from trainer.certification import credentials
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
    # The audit chain's HMAC key; empty: derived from secret_key. Set it to rotate the secret key
    # without re-keying the audit log (and keep it, like the secret key, out of the database).
    audit_key: str = Field(default="", repr=False)
    # The Ed25519 private key certificates' badges are signed with (PEM, or the 32 raw bytes in
    # base64). Kept like the secret key: required in production, generated into the data folder
    # (data/badge_key) in development. Its public half is published on /issuer.json.
    badge_key: str = Field(default="", repr=False)
    default_language: Language = "en"
    # Every date and time people read (pages, exports, reminders) and the months reports count
    # are in this IANA zone; storage and the JSON API stay in UTC. Checked by `prepared()`.
    time_zone: str = DEFAULT_TIME_ZONE
    # Outgoing email (renewal reminders); empty host: no sending.
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_user: str = ""
    smtp_password: str = Field(default="", repr=False)
    smtp_starttls: bool = True  # upgrade the connection with STARTTLS (port 587)
    smtp_implicit_tls: bool = False  # TLS from the first byte instead (port 465)
    # Either way the server's certificate and host name are verified against the system's CAs,
    # or this CA file (PEM) for a private CA.
    smtp_ca_file: str = ""
    smtp_from: str = "trainer@localhost"
    # Public certificate verification: requests per minute from one address (across processes).
    verify_per_minute: int = Field(default=30, ge=1, le=100_000)
    # The address the public reaches the site at, for QR codes and badges. Required in production;
    # in development, empty means the address the server is bound to (never the Host header,
    # which any client can forge).
    public_url: str = ""
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed: addresses or
    # networks, comma-separated ("10.0.0.1, 192.168.0.0/16"). Default none: from anyone else the
    # headers are ignored (throttling and rate limits count the connecting address).
    trusted_proxies: str = ""
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
    # Seconds between each process's checks for content published in the browser (one row read).
    content_poll_seconds: float = Field(default=2.0, ge=0.1, le=300)
    # Connection pool per app process; keep pool_size >= the threadpool's busy threads.
    db_pool_size: int = Field(default=20, ge=1, le=200)
    # Worker threads per process for exam starts, paper pages, answer saves and submits (the rest
    # of the app shares the default pool of 40): trainer.web.exam_threads says why few is faster.
    # Unset: `exam_thread_count`, by database.
    exam_threads: int | None = Field(default=None, ge=1, le=64)
    db_max_overflow: int = Field(default=10, ge=0, le=200)
    # Seconds between purges of expired sessions, tokens, sign-in attempts and rate counters in a
    # serving process (0: only `trainer purge`). The first runs one interval after start.
    purge_interval_seconds: int = Field(default=3600, ge=0, le=7 * 24 * 3600)
    # Seconds between `trainer notify` runs in a serving process (0: only the command, e.g. from
    # cron). Every process runs its own timer; the outbox's claims send each message once.
    notify_interval_seconds: int = Field(default=300, ge=0, le=7 * 24 * 3600)
    # Seconds between runs, in a serving process, of `trainer sittings prepare` (papers drawn
    # ahead for the sittings opening within a day; 0: only the command). The first runs one
    # interval after start; each process runs its own, and a run only draws what is missing.
    prepare_interval_seconds: int = Field(default=600, ge=0, le=7 * 24 * 3600)
    # PostgreSQL: seconds to wait for a connection, and for one statement (then 503, try again).
    db_connect_timeout: int = Field(default=5, ge=2, le=300)
    db_statement_timeout: int = Field(default=30, ge=1, le=3600)
    # Log lines as text for people, or one JSON object per line for a log collector (trainer.logs).
    log_format: Literal["text", "json"] = "text"
    # /metrics (Prometheus text format): off (404) unless "on", and then answered only to these
    # addresses or networks (others get 403). The address is the client's as trainer.web.middleware
    # sees it: behind a trusted proxy, the real client's.
    metrics: Literal["off", "on"] = "off"
    metrics_allow: str = "127.0.0.1, ::1"

    @field_validator("trusted_proxies", "metrics_allow")
    @classmethod
    def _check_proxies(cls, value: str) -> str:
        for part in value.split(","):
            if part.strip():
                ipaddress.ip_network(part.strip(), strict=False)  # ValueError names the bad entry
        return value

    @property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(
            ipaddress.ip_network(part.strip(), strict=False)
            for part in self.trusted_proxies.split(",")
            if part.strip()
        )

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
    def audit_chain_key(self) -> bytes:
        return derive_audit_key(self.secret_key, self.audit_key)

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

    @property
    def exam_thread_count(self) -> int:
        """TRAINER_EXAM_THREADS, else by database: on SQLite 1 (the database works inside the
        process, so a second thread hides no waiting, only takes turns at the interpreter lock),
        on PostgreSQL 4 (each statement a round trip that other threads' work fills)."""
        if self.exam_threads is not None:
            return self.exam_threads
        return 1 if self.effective_database_url.startswith("sqlite") else 4

    def prepared(self) -> Settings:
        """Check the settings for the mode, filling in what the embedded default may generate.

        In development a missing secret key is generated once and kept in the data folder, so
        sessions survive restarts. In production nothing is generated: a missing or weak key is
        an error. An unknown time zone is an error in every mode.
        """
        self.zone  # noqa: B018 (raises SettingsError, naming the setting, before anything starts)
        if self.is_production:
            check_secret_strength(self.secret_key)
            if self.audit_key:
                check_secret_strength(self.audit_key, "TRAINER_AUDIT_KEY")
            if not self.public_url.startswith(("https://", "http://")):
                raise SettingsError(
                    "TRAINER_PUBLIC_URL is required in production (e.g. https://training.example.gov.cn): "
                    "certificates' QR codes and badges carry it"
                )
            if not self.badge_key:
                raise SettingsError(
                    "TRAINER_BADGE_KEY is required in production: the Ed25519 key certificates' badges "
                    "are signed with; generate one with `openssl genpkey -algorithm ed25519`"
                )
            _check_badge_key(self.badge_key)
            return self
        generated: dict[str, str] = {}
        if not self.secret_key:
            generated["secret_key"] = _kept(self.data_dir / "secret_key", lambda: secrets.token_urlsafe(48))
        if not self.badge_key:
            generated["badge_key"] = _kept(self.data_dir / "badge_key", credentials.new_key_pem)
        _check_badge_key(generated.get("badge_key", self.badge_key))
        return self.model_copy(update=generated) if generated else self


def _kept(key_file: Path, make: Callable[[], str]) -> str:
    """A key generated once into the data folder (readable by its owner only), then reused."""
    key_file.parent.mkdir(parents=True, exist_ok=True)
    if not key_file.exists():
        key_file.write_text(make(), encoding="ascii")
        key_file.chmod(0o600)
    return key_file.read_text(encoding="ascii").strip()


def _check_badge_key(text: str) -> None:
    try:
        credentials.load_key(text)
    except credentials.BadgeKeyError as error:
        raise SettingsError(str(error)) from None


def check_secret_strength(key: str, name: str = "TRAINER_SECRET_KEY") -> None:
    if not key:
        raise SettingsError(
            f"{name} is required in production; generate one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
        )
    if len(key) < MIN_SECRET_LENGTH or key.lower() in _WEAK_SECRETS or len(set(key)) < 10:
        raise SettingsError(f"{name} is too weak: use at least {MIN_SECRET_LENGTH} random characters")


_AUDIT_KEY_PURPOSE = b"trainer audit chain v1"


def derive_audit_key(secret_key: str, audit_key: str = "") -> bytes:
    """The audit chain's HMAC key: from TRAINER_AUDIT_KEY when set, else derived from the secret
    key for this one purpose (so the two never serve as each other)."""
    if audit_key:
        return hashlib.sha256(_AUDIT_KEY_PURPOSE + b"\0" + audit_key.encode("utf-8")).digest()
    return hmac.new(secret_key.encode("utf-8"), _AUDIT_KEY_PURPOSE, hashlib.sha256).digest()
