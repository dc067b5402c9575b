"""Who a request is, by the page's rules: tokens, login cookies, the proxy header, Origin."""

from __future__ import annotations

import time
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from pydantic import SecretStr

from consumers.approvals.config import ApprovalSettings
from consumers.approvals.web.auth import SESSION_COOKIE, Auth

TOKENS = SecretStr("alice:alice-token,bob:bob-token")


def auth(**settings: Any) -> Auth:
    """An `Auth` for these settings."""
    return Auth(ApprovalSettings(**settings))


def request(headers: dict[str, str] | None = None, cookie: str | None = None) -> web.Request:
    """A request from loopback with these headers (and a session cookie)."""
    headers = dict(headers or {})
    if cookie is not None:
        headers["Cookie"] = f"{SESSION_COOKIE}={cookie}"
    return make_mocked_request("GET", "/ui", headers=headers).clone(remote="127.0.0.1")


def who(a: Auth, req: web.Request, *, cookies: bool = True) -> tuple[str, str] | None:
    """(kind, name) of the identity, or None."""
    found = a.identify(req, cookies=cookies)
    return None if found is None else (found.kind, found.name)


def test_a_login_cookie_names_its_reviewer_until_it_expires_or_is_altered() -> None:
    """The cookie from alice's token is alice; an edited name or signature is nobody."""
    a = auth(reviewer_tokens=TOKENS)
    cookie = a.login("alice-token")
    assert cookie is not None
    encoded, expiry, signature = cookie.split(".")
    bob = "Ym9i"  # base64 of "bob"
    assert ("reviewer", "alice") == who(a, request(cookie=cookie))
    assert None is who(a, request(cookie=f"{bob}.{expiry}.{signature}"))
    assert None is who(a, request(cookie=f"{encoded}.{int(expiry) + 1}.{signature}"))
    assert None is who(a, request(cookie=cookie), cookies=False)  # the JSON API takes none
    assert None is a.login("nobody's token")


def test_an_expired_cookie_and_a_rotated_token_end_the_session() -> None:
    """A cookie past its expiry, or signed with a token since replaced, is nobody."""
    a = auth(reviewer_tokens=TOKENS)
    cookie = a.login("alice-token")
    assert cookie is not None
    rotated = auth(reviewer_tokens=SecretStr("alice:new-token"))
    encoded, _expiry, _sig = cookie.split(".")
    past = str(int(time.time()) - 10)
    assert None is who(rotated, request(cookie=cookie))
    assert None is who(a, request(cookie=f"{encoded}.{past}.{_sig}"))


def test_bearer_tokens_and_the_proxy_header() -> None:
    """The shared token is a machine, a reviewer's token is the reviewer, a wrong one nobody;
    the proxy header counts from loopback (trusted by default) but not from elsewhere."""
    a = auth(http_token=SecretStr("machine-token"), reviewer_tokens=TOKENS,
             identity_header="X-Forwarded-User")  # fmt: skip
    untrusted = auth(identity_header="X-Forwarded-User", trusted_proxies="10.0.0.0/8")
    proxy = {"X-Forwarded-User": "carol"}
    assert ("machine", "") == who(a, request({"Authorization": "Bearer machine-token"}))
    assert ("reviewer", "bob") == who(a, request({"Authorization": "Bearer bob-token"}))
    assert None is who(a, request({"Authorization": "Bearer wrong"} | proxy))
    assert ("proxy", "carol") == who(a, request(proxy))
    assert None is who(untrusted, request(proxy))
    assert None is who(a, request())
    assert ("anonymous", "anonymous") == who(auth(), request())


def test_origin_must_name_this_server_or_a_configured_origin() -> None:
    """Same host passes; another site, `null` and (when required) none at all do not."""
    a = auth(allowed_origins="https://approvals.example.com")

    def same(origin: str | None, *, required: bool = True) -> bool:
        headers = {"Host": "127.0.0.1:8787"} | ({"Origin": origin} if origin else {})
        return a.same_origin(request(headers), required=required)

    assert [True, True, False, False, False, True] == [
        same("http://127.0.0.1:8787"), same("https://approvals.example.com"),
        same("http://evil.example"), same("null"), same(None), same(None, required=False),
    ]  # fmt: skip


def test_reviewer_tokens_that_do_not_parse_are_refused_without_echoing_them() -> None:
    """`name:token` pairs only; the error names the setting, not the value."""
    with pytest.raises(ValueError, match="APPROVALS_REVIEWER_TOKENS") as raised:
        auth(reviewer_tokens=SecretStr("alice-secret-without-a-name"))
    assert "alice-secret" not in str(raised.value)
