"""Password hashes: scrypt (stdlib) with a per-user salt, its parameters stored in the hash.

Encoded form: `scrypt$n=32768,r=8,p=1$<salt>$<key>` (salt and key in unpadded urlsafe
base64), so the parameters can be raised later without breaking stored hashes.
n=2**15, r=8 costs 32 MiB and about 75-95 ms per hash on the 2-core development machine;
the gateway bounds how many run at once (web/users.py). Blocking: call off the event loop.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
import unicodedata

_SCHEME = "scrypt"
_N = 2**15
_R = 8
_P = 1
_SALT_BYTES = 16
_KEY_BYTES = 32
# A stored hash is trusted data, but one hand-edited wrongly must not make a login try to
# allocate gigabytes or run for minutes: parameters beyond these are refused.
_MAX_MEMORY_BYTES = 256 * 2**20
_MAX_P = 16


def hash_password(password: str) -> str:
    """The encoded scrypt hash of `password` with a fresh random salt."""
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _derive(password, salt, _N, _R, _P)
    return f"{_SCHEME}$n={_N},r={_R},p={_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, encoded: str) -> bool:
    """True when `password` matches the encoded hash; compared in constant time.

    Raises ValueError when `encoded` is not a hash this module wrote.
    """
    n, r, p, salt, expected = _decode(encoded)
    return hmac.compare_digest(_derive(password, salt, n, r, p), expected)


def verify_nothing(password: str) -> bool:
    """Spend the time of one verification and return False: used for unknown user names, so
    the answer time does not tell which names exist."""
    verify_password(password, _dummy_hash())
    return False


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    # NFKC: the same password typed on another keyboard layout or input method may arrive
    # as a different but equivalent code point sequence (NIST SP 800-63B 5.1.1.2).
    secret = unicodedata.normalize("NFKC", password).encode("utf-8")
    # OpenSSL refuses more than a default 32 MiB unless told the real need.
    maxmem = _memory(n, r, p)
    return hashlib.scrypt(secret, salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=_KEY_BYTES)


def _memory(n: int, r: int, p: int) -> int:
    """Bytes scrypt allocates, as OpenSSL counts them (EVP_PBE_scrypt: B and V)."""
    return 128 * r * (n + p + 2)


def _decode(encoded: str) -> tuple[int, int, int, bytes, bytes]:
    try:
        scheme, params, salt, key = encoded.split("$")
        values = dict(item.split("=", 1) for item in params.split(","))
        n, r, p = int(values["n"]), int(values["r"]), int(values["p"])
        salt_bytes, key_bytes = _unb64(salt), _unb64(key)
    except (ValueError, KeyError) as exc:
        raise ValueError(f"not an encoded password hash: {exc}") from None
    if scheme != _SCHEME:
        raise ValueError(f"unknown password hash scheme {scheme!r}")
    power_of_two = n >= 2 and not n & (n - 1)
    if not power_of_two or r < 1 or not 1 <= p <= _MAX_P or _memory(n, r, p) > _MAX_MEMORY_BYTES:
        raise ValueError(f"scrypt parameters out of range: n={n}, r={r}, p={p}")
    if not salt_bytes or len(key_bytes) != _KEY_BYTES:
        raise ValueError("password hash has an empty salt or a key of the wrong length")
    return n, r, p, salt_bytes, key_bytes


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
