"""Open Badges 3.0 credentials that others can verify offline: the issuer's Ed25519 key, its
public half as a JWK on the issuer profile, and the credential signed as a VC-JWT (a compact JWS,
`alg: EdDSA`), the proof format of the Open Badges 3.0 specification, section 8.2.

The JWS is written here from `cryptography`'s Ed25519 primitive: it is three base64url parts and
one signature, and writing it keeps the JOSE header to exactly the fields the specification allows.
Tests verify it with an independent library (joserfc).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

CONTEXTS = [
    "https://www.w3.org/ns/credentials/v2",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
]


class BadgeKeyError(ValueError):
    """TRAINER_BADGE_KEY is not an Ed25519 private key; the message says what is accepted."""


def new_key_pem() -> str:
    """A fresh Ed25519 private key as PKCS#8 PEM (what development keeps in data/badge_key)."""
    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode("ascii")
    )


@functools.lru_cache(maxsize=4)
def load_key(text: str) -> Ed25519PrivateKey:
    """The key from PEM (PKCS#8) or from the 32 raw bytes in base64 / base64url."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
        except (ValueError, TypeError) as error:
            raise BadgeKeyError(f"TRAINER_BADGE_KEY is not a readable PEM private key ({error})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise BadgeKeyError("TRAINER_BADGE_KEY must be an Ed25519 key")
        return key
    try:
        raw = base64.urlsafe_b64decode(text.replace("+", "-").replace("/", "_") + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise BadgeKeyError(
            "TRAINER_BADGE_KEY must be an Ed25519 private key: PEM, or its 32 raw bytes in base64; "
            "generate one with `openssl genpkey -algorithm ed25519`"
        )
    return Ed25519PrivateKey.from_private_bytes(raw)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def public_jwk(public: Ed25519PublicKey) -> dict[str, str]:
    """The public key as a JWK (RFC 8037), never with the private `d`."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": _b64url(raw)}


def thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638 thumbprint: a key id that changes exactly when the key does."""
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x")}, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def issuer_id(base: str) -> str:
    return f"{base}/issuer.json"


def key_id(base: str, key: Ed25519PrivateKey) -> str:
    """The URL of the key's entry on the issuer profile: what the JWT header's `kid` names."""
    return f"{issuer_id(base)}#{thumbprint(public_jwk(key.public_key()))}"


def issuer_profile(base: str, name: str, key: Ed25519PrivateKey) -> dict[str, Any]:
    """The issuer profile, publishing the public key a verifier needs (and nothing secret)."""
    kid = key_id(base, key)
    return {
        "@context": CONTEXTS,
        "id": issuer_id(base),
        "type": ["Profile"],
        "name": name,
        "url": base,
        "verificationMethod": [
            {
                "id": kid,
                "type": "JsonWebKey",
                "controller": issuer_id(base),
                "publicKeyJwk": {**public_jwk(key.public_key()), "kid": kid, "alg": "EdDSA", "use": "sig"},
            }
        ],
    }


def sign(credential: dict[str, Any], base: str, key: Ed25519PrivateKey) -> str:
    """The credential as a VC-JWT: the OB 3.0 claims (iss, jti, nbf, exp) beside the credential."""
    header = {"alg": "EdDSA", "kid": key_id(base, key), "typ": "JWT"}
    claims = {
        **credential,
        "iss": credential["issuer"]["id"],
        "jti": credential["id"],
        "nbf": _numeric_date(credential["validFrom"]),
    }
    if "validUntil" in credential:
        claims["exp"] = _numeric_date(credential["validUntil"])
    signing_input = ".".join(
        _b64url(json.dumps(part, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
        for part in (header, claims)
    )
    signature = key.sign(signing_input.encode("ascii"))
    return f"{signing_input}.{_b64url(signature)}"


def _numeric_date(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp())
