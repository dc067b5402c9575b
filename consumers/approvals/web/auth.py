"""Who is asking: the machine token, a reviewer's token or login cookie, or a trusted proxy's
identity header; and the CSRF checks every decision made by a browser passes.

The identity is what the server established, never what a request body or the browser says:
`decided_by` is built from it. Authentication is required as soon as any of the shared token,
reviewer tokens or the identity header is configured; with none, the API is open (loopback only,
by default) and people are `anonymous`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web

from consumers.approvals.config import ApprovalSettings

SESSION_COOKIE = "approvals_session"
CSRF_COOKIE = "approvals_csrf"
CSRF_HEADER = "X-CSRF-Token"
SESSION_SECS = 12 * 3600
MAX_NAME = 200

MACHINE = "machine"  # the shared bearer token: a program, which says on whose behalf (`by`)
REVIEWER = "reviewer"  # a per-reviewer token (bearer or the page's login cookie)
PROXY = "proxy"  # the authenticating proxy's identity header
ANONYMOUS = "anonymous"  # nothing configured: an open, loopback-only API


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated caller. `bearer`: authenticated by the Authorization header, which a
    browser never adds by itself, so the request cannot be a cross-site forgery."""

    kind: str
    name: str
    bearer: bool = False


class Auth:
    """Identifies requests, issues and verifies login cookies, checks CSRF and approvers."""

    def __init__(self, settings: ApprovalSettings) -> None:
        token = settings.http_token.get_secret_value() if settings.http_token else ""
        self._token = token or None
        self._reviewers = _parse_tokens(settings.reviewer_tokens)
        self._header = (settings.identity_header or "").strip() or None
        self._proxies = [ipaddress.ip_network(n.strip(), strict=False)
                         for n in settings.trusted_proxies.split(",") if n.strip()]  # fmt: skip
        self._approvers = _csv(settings.approvers)
        self._origins = {o.rstrip("/").lower() for o in _csv(settings.allowed_origins) or ()}

    @property
    def required(self) -> bool:
        """Whether any authentication is configured (then nothing is open)."""
        return bool(self._token or self._reviewers or self._header)

    @property
    def mode(self) -> str:
        """For the start-up log line: which methods are on (never a secret)."""
        modes = [name for name, on in (("bearer", self._token), ("reviewer_tokens",
                 self._reviewers), ("proxy_header", self._header)) if on]  # fmt: skip
        return "+".join(modes) or "none"

    @property
    def has_logins(self) -> bool:
        """Whether the page offers a token login (reviewer tokens are configured)."""
        return bool(self._reviewers)

    def identify(self, request: web.Request, *, cookies: bool) -> Identity | None:
        """The caller, or None when authentication is required and absent or wrong."""
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            return self._by_token(given.strip())
        if self._header and self._from_proxy(request):
            name = request.headers.get(self._header, "").strip()[:MAX_NAME]
            if name:
                return Identity(PROXY, name)
        if cookies:
            reviewer = self._cookie_name(request.cookies.get(SESSION_COOKIE, ""))
            if reviewer is not None:
                return Identity(REVIEWER, reviewer)
        return None if self.required else Identity(ANONYMOUS, ANONYMOUS)

    def may_decide(self, name: str) -> bool:
        """The approver allowlist (unset: every authenticated person)."""
        return self._approvers is None or name in self._approvers

    def login(self, token: str) -> str | None:
        """A session cookie value for a reviewer's token, or None if it is nobody's."""
        name = self._reviewer(token)
        if name is None:
            return None
        expiry = str(int(time.time()) + SESSION_SECS)
        encoded = base64.urlsafe_b64encode(name.encode()).decode()
        return f"{encoded}.{expiry}.{_sign(self._reviewers[name], encoded, expiry)}"

    def same_origin(self, request: web.Request, *, required: bool) -> bool:
        """The browser's `Origin` names this server (or a configured origin); a request without
        one passes only when not `required` (programs send none; browsers always do on POST)."""
        origin = request.headers.get("Origin")
        if origin is None or origin == "null":
            return origin is None and not required
        if origin.rstrip("/").lower() in self._origins:
            return True
        hosts = {request.host.lower()}
        if self._from_proxy(request) and "X-Forwarded-Host" in request.headers:
            hosts.add(request.headers["X-Forwarded-Host"].split(",")[0].strip().lower())
        return urlsplit(origin).netloc.lower() in hosts

    @staticmethod
    def csrf_matches(request: web.Request) -> bool:
        """Double submit: the header the page's script sends equals its cookie."""
        cookie = request.cookies.get(CSRF_COOKIE, "")
        header = request.headers.get(CSRF_HEADER, "")
        return bool(cookie) and hmac.compare_digest(cookie.encode(), header.encode())

    @staticmethod
    def new_csrf() -> str:
        """A fresh CSRF token."""
        return secrets.token_urlsafe(32)

    def secure(self, request: web.Request) -> bool:
        """Whether the browser reached us over HTTPS (directly or through a trusted proxy)."""
        if request.secure:
            return True
        forwarded = request.headers.get("X-Forwarded-Proto", "")
        return self._from_proxy(request) and forwarded.lower() == "https"

    def _by_token(self, given: str) -> Identity | None:
        if self._token and hmac.compare_digest(given.encode(), self._token.encode()):
            return Identity(MACHINE, "", bearer=True)
        name = self._reviewer(given)
        return Identity(REVIEWER, name, bearer=True) if name is not None else None

    def _reviewer(self, given: str) -> str | None:
        found = None
        for name, token in self._reviewers.items():  # every one compared: constant time overall
            if hmac.compare_digest(given.encode(), token.encode()):
                found = name
        return found

    def _from_proxy(self, request: web.Request) -> bool:
        try:
            address = ipaddress.ip_address(request.remote or "")
        except ValueError:
            return False
        return any(address in network for network in self._proxies)

    def _cookie_name(self, value: str) -> str | None:
        encoded, _, rest = value.partition(".")
        expiry, _, signature = rest.partition(".")
        try:
            name = base64.urlsafe_b64decode(encoded.encode()).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        token = self._reviewers.get(name)
        if token is None or not expiry.isdigit() or int(expiry) < time.time():
            return None
        expected = _sign(token, encoded, expiry)
        return name if hmac.compare_digest(expected.encode(), signature.encode()) else None


def _sign(token: str, encoded_name: str, expiry: str) -> str:
    """The cookie's signature, keyed by the reviewer's own token: any replica with the same
    configuration accepts it, and rotating the token ends the sessions it opened."""
    mac = hmac.new(token.encode(), f"{encoded_name}.{expiry}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


def _parse_tokens(secret: object) -> dict[str, str]:
    raw = secret.get_secret_value() if hasattr(secret, "get_secret_value") else ""
    tokens: dict[str, str] = {}
    for item in str(raw or "").split(","):
        name, sep, token = item.strip().partition(":")
        if not sep or not name.strip() or not token.strip():
            if item.strip():
                raise ValueError("APPROVALS_REVIEWER_TOKENS must be name:token,name:token")
            continue
        tokens[name.strip()[:MAX_NAME]] = token.strip()
    return tokens


def _csv(value: str | None) -> frozenset[str] | None:
    items = frozenset(v.strip() for v in (value or "").split(",") if v.strip())
    return items or None
