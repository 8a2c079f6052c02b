"""Tokens and roles (gateway/auth.py): issue/verify, expiry, tampering and role checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import orjson
import pytest

from gateway.auth import Principal, TokenError, issue, valid_role, verify

SECRET = "unit-test-secret"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(token: str) -> dict[str, object]:
    part = token.split(".")[1]
    decoded: dict[str, object] = orjson.loads(
        base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    )
    return decoded


def _signed(header: str, payload: str, secret: str = SECRET) -> str:
    """A token with these (already encoded) parts and a valid signature over them."""
    signing_input = f"{header}.{payload}"
    mac = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


HEADER_B64 = _b64(orjson.dumps({"alg": "HS256", "typ": "JWT"}))


@pytest.mark.parametrize("role", ["control_room", "operator", "admin", "team:EP-1", "team:a.b_c-d"])
def test_issue_verify_round_trip(role: str) -> None:
    before = int(time.time())
    token = issue(SECRET, role, "tester@example.fi", ttl_s=600)
    who = verify(SECRET, token)
    assert who.role == role
    assert who.sub == "tester@example.fi"
    assert before + 600 <= who.exp <= int(time.time()) + 600
    assert who.jti == _claims(token)["jti"]
    assert len(who.jti) == 32


def test_issue_keeps_explicit_subject_and_unique_ids() -> None:
    a = verify(SECRET, issue(SECRET, "operator", sub="liisa@example.fi"))
    b = verify(SECRET, issue(SECRET, "operator", sub="liisa@example.fi"))
    assert a.sub == b.sub == "liisa@example.fi"
    assert a.jti != b.jti


def test_issue_token_is_three_part_hs256_jwt() -> None:
    token = issue(SECRET, "admin", sub="root", ttl_s=60)
    header, _payload, _sig = token.split(".")
    assert orjson.loads(base64.urlsafe_b64decode(header + "==")) == {"alg": "HS256", "typ": "JWT"}
    claims = _claims(token)
    assert set(claims) == {"sub", "role", "iat", "exp", "jti"}
    assert claims["exp"] == claims["iat"] + 60  # type: ignore[operator]
    assert "=" not in token


def test_team_id_of_principal() -> None:
    assert verify(SECRET, issue(SECRET, "team:EP-7", "tester@example.fi")).team_id == "EP-7"
    assert verify(SECRET, issue(SECRET, "operator", "tester@example.fi")).team_id is None
    assert verify(SECRET, issue(SECRET, "admin", "tester@example.fi")).team_id is None


def _who(role: str) -> Principal:
    return Principal(sub="x", role=role, jti="j", exp=2_000_000_000)


def test_can_admin_has_every_role() -> None:
    admin = _who("admin")
    assert admin.can("control_room")
    assert admin.can("operator")
    assert admin.can("team:anything")
    assert admin.can()  # even when no role is named


def test_can_only_named_roles() -> None:
    op = _who("operator")
    assert op.can("operator")
    assert op.can("control_room", "operator")
    assert not op.can("control_room")
    assert not op.can("admin")
    assert not op.can()
    room = _who("control_room")
    assert room.can("control_room") and not room.can("operator")
    team = _who("team:a")
    assert not team.can("control_room", "operator")


def test_can_team_semantics() -> None:
    assert _who("team:a").can_team("a")
    assert not _who("team:a").can_team("b")
    assert not _who("team:a").can_team("a.b")  # no prefix matching
    assert _who("admin").can_team("a") and _who("admin").can_team("b")
    assert not _who("operator").can_team("a")
    assert not _who("control_room").can_team("a")


def test_expired_token() -> None:
    token = issue(SECRET, "operator", "tester@example.fi", ttl_s=60)
    exp = verify(SECRET, token).exp
    assert verify(SECRET, token, now=exp - 1).exp == exp
    with pytest.raises(TokenError, match=r"^token expired$"):
        verify(SECRET, token, now=exp)  # exp itself is already expired
    with pytest.raises(TokenError, match=r"^token expired$"):
        verify(SECRET, token, now=exp + 3600)


def test_wrong_secret() -> None:
    token = issue(SECRET, "admin", "tester@example.fi")
    with pytest.raises(TokenError, match="signature"):
        verify("another-secret", token)


def test_tampered_payload() -> None:
    token = issue(SECRET, "operator", sub="mallory")
    header, payload, sig = token.split(".")
    claims = _claims(token)
    claims["role"] = "admin"
    forged = f"{header}.{_b64(orjson.dumps(claims))}.{sig}"
    with pytest.raises(TokenError, match="signature"):
        verify(SECRET, forged)
    # Extending the expiry is tampering too.
    claims = _claims(token)
    claims["exp"] = int(claims["exp"]) + 10**6  # type: ignore[call-overload]
    with pytest.raises(TokenError, match="signature"):
        verify(SECRET, f"{header}.{_b64(orjson.dumps(claims))}.{sig}")
    # The untampered token still verifies, so the failures above are the tampering.
    assert verify(SECRET, f"{header}.{payload}.{sig}").role == "operator"


def test_tampered_signature() -> None:
    token = issue(SECRET, "operator", "tester@example.fi")
    head, _, sig = token.rpartition(".")
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    with pytest.raises(TokenError, match="signature"):
        verify(SECRET, f"{head}.{flipped}")
    with pytest.raises(TokenError, match="signature"):
        verify(SECRET, f"{head}.")
    with pytest.raises(TokenError, match="signature"):
        verify(SECRET, f"{head}.{sig}=")


def test_header_must_be_hs256() -> None:
    payload = _claims(issue(SECRET, "admin", "tester@example.fi"))
    none_alg = _b64(orjson.dumps({"alg": "none", "typ": "JWT"}))
    with pytest.raises(TokenError, match="unsupported"):
        verify(SECRET, _signed(none_alg, _b64(orjson.dumps(payload))))


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b", "a.b.c.d", "....", "a" * 4097, "a.b." + "c" * 4093],
    ids=["empty", "one-part", "two-parts", "four-parts", "dots", "oversize", "oversize-3-parts"],
)
def test_malformed_tokens(token: str) -> None:
    with pytest.raises(TokenError):
        verify(SECRET, token)


def test_oversize_token_refused_before_anything_else() -> None:
    token = issue(SECRET, "admin", sub="a" * 120)
    padded = token + " " * (4097 - len(token))
    with pytest.raises(TokenError, match="oversized"):
        verify(SECRET, padded)


@pytest.mark.parametrize(
    ("header", "payload"),
    [
        ("%%%", _b64(b'{"sub":"a"}')),  # header is not base64
        (HEADER_B64, "A"),  # impossible base64 length
        (HEADER_B64, _b64(b"not json")),  # base64 of garbage
        (HEADER_B64, ""),  # empty payload
        (_b64(b"[1,2"), _b64(b"{}")),  # header is broken JSON
    ],
    ids=["bad-b64-header", "bad-b64-length", "not-json", "empty-payload", "broken-header"],
)
def test_correctly_signed_garbage_is_malformed(header: str, payload: str) -> None:
    with pytest.raises(TokenError, match="malformed"):
        verify(SECRET, _signed(header, payload))


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ([1, 2, 3], "unsupported"),
        ({"role": "admin", "jti": "j", "exp": 2_000_000_000}, "lacks"),
        ({"sub": "a", "role": "admin", "jti": 5, "exp": 2_000_000_000}, "lacks"),
        ({"sub": "a", "role": "root", "jti": "j", "exp": 2_000_000_000}, "bad role"),
        ({"sub": "a", "role": "team:", "jti": "j", "exp": 2_000_000_000}, "bad role"),
        ({"sub": "a", "role": "admin", "jti": "j", "exp": "2000000000"}, "expiry"),
        ({"sub": "a", "role": "admin", "jti": "j", "exp": 2e9}, "expiry"),
        ({"sub": "a", "role": "admin", "jti": "j"}, "expiry"),
    ],
    ids=["list", "no-sub", "int-jti", "bad-role", "empty-team", "str-exp", "float-exp", "no-exp"],
)
def test_correctly_signed_bad_claims(claims: object, message: str) -> None:
    with pytest.raises(TokenError, match=message):
        verify(SECRET, _signed(HEADER_B64, _b64(orjson.dumps(claims))))


def test_correctly_signed_good_claims_verify() -> None:
    """The control for the test above: the helper does make tokens verify() accepts."""
    claims = {"sub": "a", "role": "team:x", "jti": "j", "exp": 2_000_000_000}
    who = verify(SECRET, _signed(HEADER_B64, _b64(orjson.dumps(claims))), now=1_000_000_000)
    assert who == Principal(sub="a", role="team:x", jti="j", exp=2_000_000_000)


def test_non_ascii_signature_is_a_token_error() -> None:
    with pytest.raises(TokenError):
        verify(SECRET, "a.b.\u00e9")


@pytest.mark.parametrize(
    "role",
    ["", "root", "Admin", "admin ", "team:", "team", "team:-x", "team:a b", "team:" + "x" * 65],
)
def test_issue_refuses_unknown_roles(role: str) -> None:
    assert not valid_role(role)
    with pytest.raises(ValueError, match="unknown role"):
        issue(SECRET, role, "tester@example.fi")


def test_valid_role_limits() -> None:
    assert valid_role("team:" + "x" * 64)
    assert valid_role("team:A9._-")
    assert not valid_role("team:A9._:-")
    for role in ("control_room", "operator", "admin"):
        assert valid_role(role)


@pytest.mark.parametrize("sub", ["-leading-dash", "has space", "x" * 121, "ä", "a/b"])
def test_issue_refuses_bad_subjects(sub: str) -> None:
    with pytest.raises(ValueError, match="subject"):
        issue(SECRET, "operator", sub=sub)


def test_issue_accepts_longest_subject() -> None:
    assert verify(SECRET, issue(SECRET, "operator", sub="x" * 120)).sub == "x" * 120


@pytest.mark.parametrize("ttl", [0, -1, -0.5])
def test_issue_refuses_non_positive_ttl(ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl"):
        issue(SECRET, "operator", "tester@example.fi", ttl_s=ttl)


def test_sub_second_ttl_is_not_born_expired() -> None:
    token = issue(SECRET, "operator", "tester@example.fi", ttl_s=0.5)
    verify(SECRET, token, now=_claims(token)["iat"])  # type: ignore[arg-type]


def test_team_roles_follow_the_entity_id_pattern() -> None:
    """A token for team ``T1:v`` once read team T1's version hash."""
    for bad in ("team:T1:v", "team:X:stream", "team:a b", "team:T1\n", "team:"):
        assert not valid_role(bad)
        with pytest.raises(ValueError, match="unknown role"):
            issue(SECRET, bad, "someone")
    forged = _signed(
        _b64(orjson.dumps({"alg": "HS256", "typ": "JWT"})),
        _b64(orjson.dumps({"sub": "x", "role": "team:T1:v", "jti": "j", "exp": 2**40})),
    )
    with pytest.raises(TokenError, match="bad role"):
        verify(SECRET, forged)
    assert Principal("x", "team:T1", "j", 1).can_team("T1")
