"""Password hashes: scrypt with a salt, parameters kept, constant-time verify."""

from __future__ import annotations

import secrets
import time

import pytest

from web.passwords import hash_password, verify_nothing, verify_password


@pytest.fixture(scope="module")
def password() -> str:
    return secrets.token_urlsafe(16)


@pytest.fixture(scope="module")
def encoded(password: str) -> str:
    return hash_password(password)


def test_hash_verifies_and_is_not_the_password(password: str, encoded: str) -> None:
    assert password not in encoded
    assert encoded.startswith("scrypt$n=32768,r=8,p=1$")
    assert verify_password(password, encoded)
    assert not verify_password(password + "x", encoded)
    assert not verify_password("", encoded)


def test_salt_makes_every_hash_different(password: str, encoded: str) -> None:
    again = hash_password(password)
    assert again != encoded
    assert verify_password(password, again)


def test_equivalent_unicode_forms_are_one_password() -> None:
    composed, decomposed = "Gr\u00fc\u00dfe-aus-Uvelka", "Gru\u0308\u00dfe-aus-Uvelka"
    assert verify_password(decomposed, hash_password(composed))


def test_parameters_are_read_from_the_stored_hash(password: str) -> None:
    # The scrypt of "correct horse" with salt b"uvelka-test-salt" at n=2**10, r=8, p=1
    # (computed once with hashlib.scrypt): an older, cheaper hash still verifies.
    stored = ("scrypt$n=1024,r=8,p=1$dXZlbGthLXRlc3Qtc2FsdA$"
              "lhfCWrjD0ZqeUkLKGlkjpbKPQY3Y4-MH1TTustunjOo")
    assert verify_password("correct horse", stored)
    assert not verify_password("correct horsE", stored)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "bcrypt$n=1024,r=8,p=1$c2FsdA$" + "A" * 43,
        "scrypt$n=1000,r=8,p=1$c2FsdA$" + "A" * 43,  # n not a power of two
        "scrypt$n=1048576,r=8,p=1$c2FsdA$" + "A" * 43,  # 1 GiB: refused, not allocated
        "scrypt$n=1024,r=8$c2FsdA$" + "A" * 43,
        "scrypt$n=1024,r=8,p=1$$" + "A" * 43,
        "scrypt$n=1024,r=8,p=1$c2FsdA$QUJD",  # key too short
        "scrypt$n=1024,r=8,p=1$c2FsdA$" + "!" * 43,
    ],
)
def test_malformed_hashes_are_an_error(stored: str) -> None:
    with pytest.raises(ValueError, match="password hash|scrypt parameters"):
        verify_password("anything", stored)


def test_unknown_user_costs_a_verification(password: str, encoded: str) -> None:
    assert verify_nothing(password) is False
    verify_started = time.perf_counter()
    verify_password(password, encoded)
    verify_s = time.perf_counter() - verify_started
    nothing_started = time.perf_counter()
    verify_nothing(password)
    nothing_s = time.perf_counter() - nothing_started
    # Same work (same parameters), so the same order of time on a noisy machine.
    assert nothing_s > verify_s / 4
