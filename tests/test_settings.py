"""Settings: the embedded default needs none; production refuses weak secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import TEST_BADGE_KEY
from trainer.config import Settings, SettingsError


def test_development_generates_and_keeps_a_secret_key(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path, secret_key="").prepared()
    second = Settings(data_dir=tmp_path, secret_key="").prepared()
    assert len(first.secret_key) >= 48
    assert first.secret_key == second.secret_key
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_embedded_default_is_sqlite_in_the_data_folder(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url="")
    assert settings.effective_database_url == f"sqlite:///{tmp_path}/trainer.db"


@pytest.mark.parametrize("key", ["", "short", "changeme" * 5, "a" * 64, "secret"])
def test_production_refuses_a_missing_or_weak_secret(tmp_path: Path, key: str) -> None:
    with pytest.raises(SettingsError, match="TRAINER_SECRET_KEY"):
        Settings(env="production", data_dir=tmp_path, secret_key=key).prepared()
    assert not (tmp_path / "secret_key").exists()


def test_production_accepts_a_strong_secret(tmp_path: Path) -> None:
    key = "Vq3n8Zr1-kPq0xW7yT5uJb2Lm9Hc4Gd6Fs_Ae"
    settings = Settings(
        env="production",
        data_dir=tmp_path,
        secret_key=key,
        public_url="https://t.example",
        badge_key=TEST_BADGE_KEY,
    )
    assert settings.prepared().secret_key == key


def test_settings_come_from_trainer_environment_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TRAINER_DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("TRAINER_COURSES_DIR", str(tmp_path / "c"))
    monkeypatch.setenv("TRAINER_QUESTION_BANK_DIR", str(tmp_path / "q"))
    monkeypatch.setenv("TRAINER_DEFAULT_LANGUAGE", "zh")
    monkeypatch.setenv("TRAINER_ENV", "production")
    settings = Settings()
    assert settings.effective_database_url == "postgresql+psycopg://u@h/db"
    assert settings.courses_dir == tmp_path / "c"
    assert settings.question_bank_dir == tmp_path / "q"
    assert settings.default_language == "zh-CN"
    assert settings.is_production


def test_an_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="default_language"):
        Settings(default_language="fr")  # type: ignore[arg-type]
