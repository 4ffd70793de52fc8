"""Personal data of the household ledger: ID numbers, phone numbers and health, never in clear at rest.

- ``seal`` / ``unseal``: AES-GCM (``cryptography``) with a key from configuration, the field name bound in
  as associated data (an ID cipher cannot be passed off as a phone cipher).
- ``match_key``: an HMAC-SHA256 keyed hash of the normalised value, to find a person by ID without
  decrypting every row (and without a plain hash anyone could recompute from a guessed ID).
- ``mask_id`` / ``mask_phone``: what pages and exports show (``340321********1234``).
- ``id_check``: ``stdnum.cn.ric`` decides whether an 18-character resident ID is valid.

The key: ``DASHBOARD_PRIVACY_KEY`` (at least 32 characters); in demo mode a random key is generated once and
kept in the data folder (``privacy_key``, 0600), like the login cookie key. Production without it refuses.
Two keys are derived from it (HKDF), one to encrypt and one to hash.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from dashboard import config
from dashboard.errors import DomainError, ValidationFailed

KEY_ENV = "DASHBOARD_PRIVACY_KEY"
KEY_FILE = "privacy_key"
MIN_KEY_LENGTH = 32
NONCE_BYTES = 12
ID_LENGTHS = (18, 20, 22)  # 居民身份证 18; the national system's own person codes 20 or 22


class Field(StrEnum):
    ID = "id_number"
    PHONE = "phone"
    HEALTH = "health"


class PrivacyKeyMissing(DomainError):
    def __init__(self) -> None:
        super().__init__("error.privacy_key_missing")


@dataclass(frozen=True)
class Keys:
    encrypt: bytes
    match: bytes


def _master_key(configured: str) -> bytes:
    if len(configured) >= MIN_KEY_LENGTH:
        return configured.encode()
    if config.is_production():
        raise PrivacyKeyMissing()
    path = config.data_dir() / KEY_FILE  # the folder is created (0700) on first use
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip().encode()


@lru_cache(maxsize=8)
def _keys_for(configured: str, folder: str, production: bool) -> Keys:
    """The keys for one configuration (cached: an import seals hundreds of thousands of values)."""
    master = _master_key(configured)
    def derive(purpose: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(master)
    return Keys(encrypt=derive(b"household-ledger aes-gcm"), match=derive(b"household-ledger hmac"))


def keys() -> Keys:
    """The keys of the current configuration. Cheap after the first call (a bulk load seals a million values):
    the data folder (where the demo key lives) is only named here, by its setting, and created and read by
    ``_keys_for`` when the key is not cached."""
    configured = os.environ.get(KEY_ENV, "").strip()
    folder = "" if len(configured) >= MIN_KEY_LENGTH else os.environ.get(config.DATA_DIR_ENV, "")
    return _keys_for(configured, folder, config.is_production())


def normalise(value: str) -> str:
    return value.upper() if value.isalnum() else "".join(value.split()).upper()   # isalnum: no whitespace in it


class Sealer:
    """``seal``, ``unseal`` and ``match_key`` with the keys read once: what the module's functions use, and what
    bulk work (an import, a screening list, the synthetic ledger) holds on to for its million values."""

    def __init__(self, current: Keys) -> None:
        self._aead = AESGCM(current.encrypt)
        self._match = current.match

    def seal(self, value: str | None, field: Field) -> bytes | None:
        """The encrypted form of ``value`` (nonce + ciphertext), or None for an empty value."""
        text = normalise(value or "") if field is not Field.HEALTH else (value or "").strip()
        if not text:
            return None
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, text.encode(), field.value.encode())

    def unseal(self, blob: bytes | None, field: Field) -> str:
        if not blob:
            return ""
        blob = bytes(blob)
        return self._aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], field.value.encode()).decode()

    def match_key(self, value: str | None) -> str | None:
        """The keyed hash an ID is found by (hex, 64 characters), or None for an empty value."""
        text = normalise(value or "")
        if not text:
            return None
        return hmac.digest(self._match, text.encode(), hashlib.sha256).hex()


@lru_cache(maxsize=8)
def _sealer_for(current: Keys) -> Sealer:
    return Sealer(current)


def sealer() -> Sealer:
    """The sealer of the current configuration."""
    return _sealer_for(keys())


def seal(value: str | None, field: Field) -> bytes | None:
    """The encrypted form of ``value`` (nonce + ciphertext), or None for an empty value."""
    return sealer().seal(value, field)


def unseal(blob: bytes | None, field: Field) -> str:
    return sealer().unseal(blob, field)


def match_key(value: str | None) -> str | None:
    """The keyed hash an ID is found by (hex, 64 characters), or None for an empty value."""
    return sealer().match_key(value)


def mask_id(value: str | None) -> str:
    """First six and last four characters shown: ``340321********1234``."""
    text = normalise(value or "")
    if len(text) <= 10:
        return "*" * len(text)
    return text[:6] + "*" * (len(text) - 10) + text[-4:]


def mask_phone(value: str | None) -> str:
    text = normalise(value or "")
    if len(text) <= 7:
        return "*" * len(text)
    return text[:3] + "*" * (len(text) - 7) + text[-4:]


def id_length_ok(value: str | None) -> bool:
    return len(normalise(value or "")) in ID_LENGTHS


def check_id_length(value: str | None) -> str:
    """The ID normalised, refused when it is not 18, 20 or 22 characters long (an empty one passes: no ID). One
    rule for the import's rows (``household_reader``) and every service that writes a person (``sealed_values``);
    the message names the length, never the number."""
    text = normalise(value or "")
    if text and not id_length_ok(text):
        raise ValidationFailed("error.hh_import_id_length", length=len(text))
    return text


def id_check(value: str | None) -> bool:
    """Whether an ID passes ``stdnum.cn.ric`` (18 characters: birth date and check digit). IDs of the
    national system's other lengths (20, 22) carry no check digit and count as valid."""
    text = normalise(value or "")
    if len(text) != 18:
        return id_length_ok(text)
    if not DIGITS.fullmatch(text[:-1]) or text[-1] != ric.calc_check_digit(text):
        return False
    try:   # ric.get_birth_date without its second compact()
        born = dt.date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        return False
    return _birth_place_known(text[:6], born.year)


DIGITS = re.compile("[0-9]+")


@lru_cache(maxsize=65_536)
def _birth_place_known(region: str, year: int) -> bool:
    """``ric.is_valid``'s last test, the region code assigned in the year of birth, asked once per region and year:
    ``ric.get_birth_place`` searches the whole table of regions (most of the time of an import of 100,000 IDs).
    The steps before it are ``ric.validate``'s: length, digits, check digit, birth date."""
    try:
        ric.get_birth_place(f"{region}{year:04d}01010000")
    except ValidationError:
        return False
    return True

