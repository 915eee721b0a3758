"""Who may do what over OPC UA (issue #14): the server's users are the web page's
(web.users, the same file and roles), checked when a session is activated; client
certificates are checked against the trust list (gateway.opcua.pki) when a session is
created; and a channel without security is held to discovery unless "None" is configured.

asyncua 2.1 leaves three holes this closes:

- `SecureConnection.select_policy` keeps the SecurityPolicyNone every connection starts
  with when a client asks for None and None is not configured: the channel opens, and
  UaProcessor skips its permission checks on it (they live on the policy, and this one
  has none). `guard` refuses every request on such a channel but GetEndpoints,
  FindServers and CloseSecureChannel with Bad_SecurityPolicyRejected.
- RegisterServer(2) is served without a session: the gateway is not a discovery server,
  so it is refused with Bad_ServiceUnsupported.
- the user manager is called synchronously inside ActivateSession, where a password hash
  (scrypt, ~0.1 s and 32 MiB) would stop the event loop: `guard` checks the password
  first, in a thread, and hands the outcome to `get_user` through a context variable
  (the guard and asyncua's handling run in the same task).

What a user may do once in: viewer browses, reads and subscribes; operator also calls
the condition methods (gateway.opcua.condition_methods); engineer also writes tags
(gateway.opcua.writes, which also answers each user's UserAccessLevel); admin all. The
role travels on the session's user (`SessionUser`); nothing here is on the path of a
value to a subscription.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from asyncua import Server, ua
from asyncua.common.utils import ServiceError
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.ua.ua_binary import struct_from_binary
from cryptography import x509

from gateway.config.model import NO_SECURITY, SECURITY_MODES, SECURITY_POLICIES
from gateway.opcua.asyncua_internals import Request, caller_user, guard_requests, user_token
from gateway.opcua.pki import TrustList, Untrusted
from gateway.opcua.uatypes import standard_id
from web.users import Role
from web.users import User as StoredUser

logger = logging.getLogger(__name__)

_NONE_URI = "http://opcfoundation.org/UA/SecurityPolicy#None"
_DISCOVERY = frozenset(
    standard_id(number)
    for number in (
        ua.ObjectIds.GetEndpointsRequest_Encoding_DefaultBinary,
        ua.ObjectIds.FindServersRequest_Encoding_DefaultBinary,
        ua.ObjectIds.FindServersOnNetworkRequest_Encoding_DefaultBinary,
        ua.ObjectIds.CloseSecureChannelRequest_Encoding_DefaultBinary,
    )
)
_REGISTER = frozenset(
    standard_id(number)
    for number in (
        ua.ObjectIds.RegisterServerRequest_Encoding_DefaultBinary,
        ua.ObjectIds.RegisterServer2Request_Encoding_DefaultBinary,
    )
)
_ACTIVATE = standard_id(ua.ObjectIds.ActivateSessionRequest_Encoding_DefaultBinary)

# asyncua names the policies without underscores: Aes128Sha256RsaOaep_SignAndEncrypt.
_POLICIES = {NO_SECURITY: ua.SecurityPolicyType.NoSecurity} | {
    f"{policy}:{mode}": getattr(ua.SecurityPolicyType, f"{policy.replace('_', '')}_{mode}")
    for policy in SECURITY_POLICIES
    for mode in SECURITY_MODES
}


def policy_types(security: list[str]) -> list[ua.SecurityPolicyType]:
    """asyncua's policy types for the [opcua] security entries."""
    return [_POLICIES[entry] for entry in security]


class Users(Protocol):
    """What the server asks of the user store (web.users.UserStore)."""

    async def authenticate(self, name: str, password: str) -> StoredUser | None: ...


# What a session without a user name may do when [opcua] anonymous is true: what every
# client could before issue #14, on which a demo's or a bench's clients rely.
ANONYMOUS_ROLE = Role.ENGINEER


@dataclass
class SessionUser(User):
    """asyncua's session user, with the gateway role it logged in with."""

    access: Role = Role.VIEWER


def role_of(user: User | None) -> Role:
    """The role a session's user acts with; asyncua's own internal calls are admin."""
    if isinstance(user, SessionUser):
        return user.access
    if user is None or user.role is UserRole.Admin:
        return Role.ADMIN
    return Role.VIEWER


def caller_may(role: Role) -> bool:
    """Whether the session whose Call or Read runs now may do what `role` may."""
    return role_of(caller_user()).at_least(role)


_CHECKED: contextvars.ContextVar[tuple[str, bytes, SessionUser | None] | None] = (
    contextvars.ContextVar("opcua_checked_login", default=None)
)


class Access:
    """The server's user manager, request guard and certificate validator."""

    def __init__(
        self,
        security: list[str],
        anonymous: bool,
        users: Users | None,
        trust: TrustList | None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._server: Server | None = None  # once installed
        self._security = security
        self._none_allowed = NO_SECURITY in security
        self._anonymous = anonymous
        self._users = users
        self._trust = trust
        self._now = now

    def install(self, server: Server) -> None:
        """Set up `server` (made with this as its user manager) before it starts."""
        self._server = server
        server.set_security_policy(policy_types(self._security))
        tokens: list[type] = [ua.UserNameIdentityToken]
        if self._anonymous:
            tokens.append(ua.AnonymousIdentityToken)
        server.set_identity_tokens(tokens)
        server.set_certificate_validator(self.validate_certificate)
        guard_requests(server, self.guard)

    async def guard(self, request: Request) -> None:
        """Refuse what asyncua would let through; check a login's password."""
        if request.type_id in _REGISTER:
            raise ServiceError(ua.StatusCodes.BadServiceUnsupported)
        if (
            request.policy_uri == _NONE_URI
            and not self._none_allowed
            and request.type_id not in _DISCOVERY
        ):
            logger.debug("request %s on a None channel refused", request.type_id)
            raise ServiceError(ua.StatusCodes.BadSecurityPolicyRejected)
        if request.type_id == _ACTIVATE:
            await self._check_login(request)

    async def _check_login(self, request: Request) -> None:
        session = request.session or request.named_session
        if session is None or self._server is None:
            return  # asyncua refuses it: no session
        params = struct_from_binary(ua.ActivateSessionParameters, request.body)
        token = params.UserIdentityToken
        if not isinstance(token, ua.UserNameIdentityToken):
            return
        try:
            name, password = user_token(self._server, session, token)
        except ValueError:
            raise ServiceError(ua.StatusCodes.BadIdentityTokenInvalid) from None
        stored = None
        if self._users is not None:
            stored = await self._users.authenticate(name, password)
        user = None
        if stored is not None:
            user = SessionUser(role=UserRole.User, name=stored.name, access=stored.role)
            logger.info("OPC UA session of %r (%s) activated", stored.name, stored.role)
        else:
            logger.warning("OPC UA login of %r refused: unknown user or wrong password", name)
        _CHECKED.set((name, _digest(password), user))

    def get_user(
        self,
        iserver: Any,
        username: str | None = None,
        password: str | None = None,
        certificate: Any = None,
    ) -> User | None:
        """asyncua's user manager call: the user `guard` checked for this very request."""
        if username is None:
            if not self._anonymous:
                return None
            return SessionUser(role=UserRole.User, name=None, access=ANONYMOUS_ROLE)
        checked = _CHECKED.get()
        if checked is None or checked[:2] != (username, _digest(password or "")):
            return None
        return checked[2]

    async def validate_certificate(
        self, certificate: x509.Certificate, description: ua.ApplicationDescription
    ) -> None:
        """asyncua's certificate validator, called when a session is created."""
        if self._trust is None:
            return
        try:
            await asyncio.to_thread(self._trust.check, certificate, self._now())
        except Untrusted as refused:
            logger.info("OPC UA session of %r refused: %s", description.ApplicationUri, refused)
            if refused.revoked:
                raise ServiceError(ua.StatusCodes.BadCertificateRevoked) from None
            if refused.expired:
                raise ServiceError(ua.StatusCodes.BadCertificateTimeInvalid) from None
            raise ServiceError(ua.StatusCodes.BadCertificateUntrusted) from None


def _digest(password: str) -> bytes:
    # Only compares the guard's password with asyncua's for the same request, in memory.
    return hashlib.sha256(password.encode("utf-8", "surrogatepass")).digest()
