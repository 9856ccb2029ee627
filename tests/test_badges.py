"""Certificates others can verify offline: the Open Badges 3.0 credential passes 1EdTech's own
JSON Schema, and its signed form (a VC-JWT, EdDSA) verifies with an independent JOSE library
(joserfc) against the public key the issuer profile publishes over HTTP."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag

import httpx2 as httpx
import jsonschema
import pytest
from fastapi.testclient import TestClient
from joserfc import jwk, jwt
from joserfc.errors import BadSignatureError
from sqlalchemy import update

from tests.conftest import (
    TEST_BADGE_KEY,
    LiveServer,
    Person,
    make_person,
    pass_exam,
    ready_for_exam,
    sign_in,
)
from tests.test_cli import trainer
from trainer.certification.models import Certificate
from trainer.config import Settings, SettingsError
from trainer.db import Database, utcnow

# 1EdTech's AchievementCredential schema, vendored (source in tests/fixtures/openbadges/README.md).
SCHEMAS = Path(__file__).parent / "fixtures" / "openbadges"
SCHEMA = json.loads((SCHEMAS / "achievementcredential.json").read_text("utf-8"))
PROFILE_SCHEMA = json.loads((SCHEMAS / "profile.json").read_text("utf-8"))
JWT_CLAIMS = ("iss", "jti", "nbf", "exp", "sub")
STRONG_SECRET = "Vq3n8Zr1-kPq0xW7yT5uJb2Lm9Hc4Gd6Fs_Ae"


def _schema_errors(document: dict[str, Any], schema: dict[str, Any] = SCHEMA) -> list[str]:
    validator = jsonschema.Draft201909Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def _certified(client: TestClient, database: Database) -> tuple[Person, dict[str, Any]]:
    headers, person = ready_for_exam(client, database)
    pass_exam(client, database, headers)
    return person, client.get("/api/v1/me/certificates", headers=headers).json()[0]


def _signed_in(live: LiveServer, person: Person) -> httpx.Client:
    """A browser-like client of the real server, signed in as the holder."""
    browser = httpx.Client(base_url=live.url, timeout=30)
    page = browser.get("/login").text
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)
    assert match
    response = browser.post(
        "/login",
        data={"username": person.username, "password": person.password, "csrf_token": match.group(1)},
    )
    assert response.status_code in (200, 303), response.text[:300]
    return browser


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_the_badge_passes_the_open_badges_schema(client: TestClient, migrated_database: Database) -> None:
    person, cert = _certified(client, migrated_database)
    sign_in(client, person)
    response = client.get(f"/certificates/{cert['number']}/badge.json")
    assert response.status_code == 200
    badge = response.json()
    assert _schema_errors(badge) == []
    assert badge["credentialSubject"]["achievement"]["description"]
    # The schema leaves "date-time" unchecked unless asked: the dates carry their zone.
    assert re.search(r"(\+00:00|Z)$", badge["validFrom"])
    assert re.search(r"(\+00:00|Z)$", badge["validUntil"])
    # The schema does find what is missing: the old badge, without a description, fails it.
    del badge["credentialSubject"]["achievement"]["description"]
    assert any("description" in error for error in _schema_errors(badge))


# RFC 9864 (2025) names the algorithm "Ed25519"; "EdDSA" is what today's VC and Open Badges
# verifiers accept, so the badge keeps it and joserfc's deprecation warning is expected here.
@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
def test_the_signed_badge_verifies_with_the_key_on_the_issuer_profile(
    client: TestClient, migrated_database: Database, live_server: LiveServer
) -> None:
    person, cert = _certified(client, migrated_database)
    holder = _signed_in(live_server, person)
    try:
        page = holder.get(f"/certificates/{cert['number']}").text
        assert f'href="/certificates/{cert["number"]}/badge.jwt"' in page
        response = holder.get(f"/certificates/{cert['number']}/badge.jwt")
    finally:
        holder.close()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/jwt")
    token = response.text.strip()
    header = json.loads(_b64(token.split(".")[0]))
    assert header["alg"] == "EdDSA"
    assert set(header) <= {"alg", "kid", "typ", "jwk"}  # what OB 3.0 section 8.2 allows

    # A verifier who knows nothing but the token: dereference the kid, anonymously, over HTTP.
    profile_url, fragment = urldefrag(header["kid"])
    assert profile_url == f"{live_server.url}/issuer.json"
    assert fragment
    with httpx.Client(timeout=30) as stranger:
        profile_response = stranger.get(profile_url)
    assert profile_response.status_code == 200
    profile = profile_response.json()
    methods = [m for m in profile["verificationMethod"] if m["id"] == header["kid"]]
    assert len(methods) == 1
    public = methods[0]["publicKeyJwk"]
    assert public["kty"] == "OKP"
    assert public["crv"] == "Ed25519"
    assert "d" not in public  # never the private half
    key = jwk.import_key(public)

    verified = jwt.decode(token, key, algorithms=["EdDSA"])
    claims = verified.claims
    jwt.JWTClaimsRegistry(iss={"essential": True, "value": profile["id"]}, jti={"essential": True}).validate(
        claims
    )
    assert claims["issuer"]["id"] == profile["id"]
    assert claims["id"].endswith(f"/verify/{cert['verification_code']}")
    assert claims["nbf"] <= utcnow().timestamp() < claims["exp"]
    credential = {name: value for name, value in claims.items() if name not in JWT_CLAIMS}
    assert _schema_errors(credential) == []

    # One changed character in the payload (another holder's name) and the signature fails.
    forged_claims = {**claims, "name": claims["name"] + " (forged)"}
    forged_payload = base64.urlsafe_b64encode(json.dumps(forged_claims).encode()).rstrip(b"=").decode()
    head, _, signature = token.split(".")
    with pytest.raises(BadSignatureError):
        jwt.decode(f"{head}.{forged_payload}.{signature}", key, algorithms=["EdDSA"])
    # ...and a signature by any other key fails too.
    with pytest.raises(BadSignatureError):
        jwt.decode(token, jwk.generate_key("OKP", "Ed25519"), algorithms=["EdDSA"])


def test_a_suspended_or_revoked_certificate_is_not_signed(
    client: TestClient, migrated_database: Database
) -> None:
    person, cert = _certified(client, migrated_database)
    sign_in(client, person)
    assert client.get(f"/certificates/{cert['number']}/badge.jwt").status_code == 200
    for column in ("suspended_at", "revoked_at"):
        with migrated_database.write() as db:
            db.execute(
                update(Certificate).where(Certificate.number == cert["number"]).values({column: utcnow()})
            )
        refused = client.get(f"/certificates/{cert['number']}/badge.jwt")
        assert refused.status_code == 409
        assert "not valid now" in refused.text
        assert "eyJ" not in refused.text  # no token at all
        page = client.get(f"/certificates/{cert['number']}").text
        assert "badge.jwt" not in page
    # Someone else's certificate stays unknown, signed or not.
    stranger = TestClient(client.app)
    sign_in(stranger, make_person(migrated_database, "inspector"))
    assert stranger.get(f"/certificates/{cert['number']}/badge.jwt").status_code == 404


def test_the_issuer_profile_is_public_and_names_one_stable_key(client: TestClient) -> None:
    first = client.get("/issuer.json")
    assert first.status_code == 200
    profile = first.json()
    assert profile["id"] == "http://testserver/issuer.json"
    assert "Profile" in profile["type"]
    assert _schema_errors(profile, PROFILE_SCHEMA) == []
    assert client.get("/issuer.json").json() == profile  # the same key on every request
    key_file = Path(client.app.state.settings.data_dir) / "badge_key"  # type: ignore[attr-defined]
    assert key_file.stat().st_mode & 0o777 == 0o600  # kept like the secret key
    assert "PRIVATE KEY" in key_file.read_text("ascii")


def test_development_generates_and_keeps_a_badge_key(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path, secret_key=STRONG_SECRET).prepared()
    second = Settings(data_dir=tmp_path, secret_key=STRONG_SECRET).prepared()
    assert first.badge_key
    assert first.badge_key == second.badge_key
    assert (tmp_path / "badge_key").stat().st_mode & 0o777 == 0o600


def test_production_without_a_badge_key_refuses_to_start(tmp_path: Path) -> None:
    production = {"env": "production", "data_dir": tmp_path, "secret_key": STRONG_SECRET}
    production["public_url"] = "https://t.example"
    with pytest.raises(SettingsError, match="TRAINER_BADGE_KEY is required"):
        Settings(**production).prepared()  # type: ignore[arg-type]
    for bad in ("not-a-key", base64.b64encode(b"short").decode(), "-----BEGIN PRIVATE KEY-----\nxx\n"):
        with pytest.raises(SettingsError, match="TRAINER_BADGE_KEY"):
            Settings(**production, badge_key=bad).prepared()  # type: ignore[arg-type]
    assert not (tmp_path / "badge_key").exists()  # production never generates one
    assert Settings(**production, badge_key=TEST_BADGE_KEY).prepared()  # type: ignore[arg-type]
    result = trainer(
        "serve",
        env={
            "TRAINER_ENV": "production",
            "TRAINER_SECRET_KEY": STRONG_SECRET,
            "TRAINER_PUBLIC_URL": "https://t.example",
            "TRAINER_BADGE_KEY": "",
            "TRAINER_DATA_DIR": str(tmp_path),
        },
    )
    assert result.returncode == 2
    assert "TRAINER_BADGE_KEY is required in production" in result.stderr
