"""Login, logout and users: bearer tokens, and the dependency that admits a user by role.

Admins create users, disable and enable them, change their role and reset their
password (``/users``, ``/users/{username}/...``); each change is a ledger event
(:class:`server.services.auth.UserAdmin`). A disabled user's login with the
right password is 403 ("this account is disabled"), with a wrong one 401 as for
anyone.

:func:`make_require` is the one role check: ``require(action)`` admits a
logged-in user whose role the access policy lets take ``action`` (401 without
a valid token, 403 for any other role). Routers declare it through
``Depends(deps.may("claims.read"))`` (:mod:`server.services.access`).

(No ``from __future__ import annotations``: see :mod:`server.http.deps`.)
"""

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi import Path as PathParam
from fastapi.responses import Response
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from server.context import AppContext
from server.errors import NotFoundError
from server.http.deps import (
    API,
    Deps,
    FieldHTTPError,
    Limit,
    Offset,
    PageOut,
    strict_json_loads,
)
from server.http.errors import validation_error
from server.http.middleware import is_json
from server.services.access import Action, may_do, roles_for
from server.services.auth import (
    MIN_PASSWORD,
    AuthError,
    DisabledUserError,
    LoginLimits,
    Role,
    TooManyAttemptsError,
    UnknownFarmerError,
    User,
    UserAdmin,
    UserStore,
)

__all__ = [
    "TOKEN_PATH",
    "Credentials",
    "PasswordForm",
    "PasswordIn",
    "RoleIn",
    "Token",
    "UserIn",
    "UserOut",
    "auth_router",
    "farmer_registered",
    "make_require",
    "user_store",
]

TOKEN_PATH = f"{API}/auth/token"

bearer = OAuth2PasswordBearer(tokenUrl=TOKEN_PATH, auto_error=False)


class Credentials(BaseModel):
    """A login, as JSON."""

    username: str = Field(min_length=1, max_length=64, examples=["adjuster1"])
    password: str = Field(
        min_length=1, max_length=1024, examples=["correct horse battery"]
    )


class PasswordForm(Credentials):
    """A login as the OAuth2 password grant form (RFC 6749 §4.3.2): the docs' Authorize."""

    grant_type: Literal["password"] | None = Field(None, examples=["password"])
    scope: str = Field("", max_length=1024, description="Ignored: roles decide.")
    client_id: str | None = Field(None, max_length=256, description="Ignored.")
    client_secret: str | None = Field(None, max_length=256, description="Ignored.")


class Token(BaseModel):
    """A bearer token and when it expires."""

    access_token: str
    token_type: str = "bearer"
    expires_at: datetime


class UserIn(BaseModel):
    """A new API user (admins create them)."""

    username: str = Field(min_length=1, max_length=64, examples=["li.wei"])
    password: str = Field(
        min_length=10, max_length=200, examples=["correct horse battery"]
    )
    role: Role = Field(examples=["field_agent"])
    farmer_id: str | None = Field(None, max_length=64, examples=[None])


class RoleIn(BaseModel):
    """A user's new role; a farmer's names the registered farmer of their records."""

    role: Role = Field(examples=["adjuster"])
    farmer_id: str | None = Field(
        None, max_length=64, description="Farmers only.", examples=[None]
    )


class PasswordIn(BaseModel):
    """A user's new password (an admin resets it)."""

    password: str = Field(
        min_length=MIN_PASSWORD, max_length=200, examples=["correct horse battery"]
    )


class UserOut(BaseModel):
    """An API user (never the password).

    ``disabled``: an admin has disabled the user (no login; tokens refused),
    since ``disabled_at``.
    """

    id: str
    username: str
    role: str
    farmer_id: str | None
    disabled: bool = False
    disabled_at: datetime | None = None


def _user_out(u: User) -> UserOut:
    return UserOut(
        id=u.id,
        username=u.username,
        role=u.role,
        farmer_id=u.farmer_id,
        disabled=u.disabled,
        disabled_at=u.disabled_at,
    )


Username = Annotated[
    str,
    PathParam(min_length=1, max_length=64, description="The user's login name."),
]


def user_store(ctx: AppContext) -> UserStore:
    """The users and tokens of ``ctx``'s database, with the login limits of its settings."""
    settings = ctx.settings
    return UserStore(
        ctx.engine,
        settings.token_ttl_s,
        LoginLimits(
            free_failures=settings.login_free_failures,
            free_failures_per_address=settings.login_free_failures_per_address,
            free_failures_per_user=settings.login_free_failures_per_user,
            delay_cap_s=settings.login_delay_cap_s,
            window_s=settings.login_window_s,
        ),
    )


def farmer_registered(ctx: AppContext) -> Callable[[str], bool]:
    """Whether a farmer id is registered in ``ctx``'s database (for :meth:`UserStore.create`)."""

    def registered(farmer_id: str) -> bool:
        try:
            ctx.underwriting.farmer(farmer_id)
        except NotFoundError:
            return False
        return True

    return registered


def make_require(
    users: UserStore,
) -> Callable[[Action], Callable[..., Awaitable[User]]]:
    """``require(action)``: a dependency admitting a logged-in user who may take ``action``.

    The access policy decides (:func:`server.services.access.may_do`); a refusal
    names the roles it allows.
    """

    def current_user(token: Annotated[str | None, Depends(bearer)]) -> User:
        if token is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                f"missing bearer token: log in at POST {TOKEN_PATH}",
                headers={"WWW-Authenticate": "Bearer"},
            )
        user = users.user_for(token)
        if user is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "the token is unknown or expired: log in again",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return user

    def require(action: Action) -> Callable[..., Awaitable[User]]:
        allowed = ", ".join(roles_for(action))

        # async: a pure check runs on the event loop, not on a worker thread
        # (a hop to the thread pool per dependency costs more than the check).
        async def check(user: Annotated[User, Depends(current_user)]) -> User:
            if not may_do(user, action):
                raise HTTPException(
                    status.HTTP_403_FORBIDDEN,
                    f"role {user.role} may not do this (allowed: {allowed})",
                )
            return user

        return check

    return require


async def _credentials(request: Request) -> Credentials:
    """The login of a token request: the OAuth2 password form, or JSON."""
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith("application/x-www-form-urlencoded"):
            form = await request.form()
            return PasswordForm.model_validate(
                {k: v for k, v in form.items() if isinstance(v, str)}
            )
        if is_json(content_type):
            try:
                doc = strict_json_loads(await request.body())
            except ValueError as exc:
                raise FieldHTTPError(
                    status.HTTP_422_UNPROCESSABLE_CONTENT,
                    "body: not valid JSON",
                    field="body",
                ) from exc
            return Credentials.model_validate(doc)
    except ValidationError as exc:
        body = validation_error(exc)
        raise FieldHTTPError(
            status.HTTP_422_UNPROCESSABLE_CONTENT, body["detail"], field=body["field"]
        ) from exc
    raise FieldHTTPError(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        "send application/x-www-form-urlencoded (username, password, "
        "grant_type=password) or application/json",
        field="body",
    )


_TOKEN_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {"$ref": "#/components/schemas/PasswordForm"}
            },
            "application/json": {
                "schema": {"$ref": "#/components/schemas/Credentials"}
            },
        },
    }
}


DEVICE_COOKIE = "agri_device"
"""The cookie a successful login sets: the device's exemption from others' failures."""
DEVICE_COOKIE_MAX_AGE_S = 180 * 24 * 3600


def auth_router(deps: Deps, users: UserStore) -> APIRouter:
    """Routes for logging in and out, and for users (admins)."""
    router = APIRouter(prefix=API)
    admins = deps.may("users.manage")
    registered = farmer_registered(deps.ctx)
    manage = UserAdmin(deps.ctx.ledger, farmer_registered=registered)

    @router.post(
        TOKEN_PATH.removeprefix(API),
        tags=["auth"],
        openapi_extra=_TOKEN_BODY,
        responses={
            403: {"description": "The password is right; the account is disabled."}
        },
    )
    async def login(request: Request, response: Response) -> Token:
        """Exchange a username and password for a bearer token.

        Send the OAuth2 password form (``application/x-www-form-urlencoded``:
        ``username``, ``password``, ``grant_type=password``; what the docs'
        Authorize button sends) or JSON ``{"username", "password"}``. A
        success also sets the device cookie ``agri_device`` (HttpOnly, sent
        back only to this path): a later login from this device is never held
        off by failures of others. After failed logins, a client (its device
        cookie, else its address) waits longer and longer before its next
        attempt: 429 with ``Retry-After`` in seconds. A disabled user with the
        right password is answered 403 (``field``: ``username``).
        """
        credentials = await _credentials(request)
        address = request.client.host if request.client else "unknown"
        device = request.cookies.get(DEVICE_COOKIE)
        try:
            token, expires, cookie = await run_in_threadpool(
                users.login,
                credentials.username,
                credentials.password,
                address,
                device,
            )
        except TooManyAttemptsError as exc:
            raise FieldHTTPError(
                status.HTTP_429_TOO_MANY_REQUESTS,
                str(exc),
                field="username",
                headers={"Retry-After": str(exc.retry_after_s)},
            ) from exc
        except DisabledUserError as exc:
            raise FieldHTTPError(
                status.HTTP_403_FORBIDDEN, str(exc), field="username"
            ) from exc
        except AuthError as exc:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                str(exc),
                headers={"WWW-Authenticate": "Bearer"},
            ) from exc
        response.set_cookie(
            DEVICE_COOKIE,
            cookie,
            max_age=DEVICE_COOKIE_MAX_AGE_S,
            path=TOKEN_PATH,
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
        return Token(access_token=token, expires_at=expires)

    @router.post(
        "/auth/logout",
        tags=["auth"],
        status_code=status.HTTP_204_NO_CONTENT,
        responses={401: {"description": "No bearer token was sent."}},
    )
    async def logout(token: Annotated[str | None, Depends(bearer)]) -> Response:
        """End the bearer token now: every later request with it answers 401.

        Logging out twice, or with an expired token, is not an error (204).
        """
        if token is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing bearer token: send the token to end",
                headers={"WWW-Authenticate": "Bearer"},
            )
        await run_in_threadpool(users.revoke, token)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.post("/users", tags=["auth"], status_code=201)
    def create_user(new: UserIn, _: Annotated[User, Depends(admins)]) -> UserOut:
        """Create a user with a role (admins); farmers need the id of a registered farmer.

        A farmer id that is not registered is refused (422, ``field``: ``farmer_id``).
        """
        try:
            u = users.create(
                new.username,
                new.password,
                new.role,
                new.farmer_id,
                farmer_registered=registered,
            )
        except UnknownFarmerError as exc:
            raise FieldHTTPError(
                status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc), field=exc.field
            ) from exc
        except AuthError as exc:
            raise FieldHTTPError(
                status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc), field=exc.field
            ) from exc
        return _user_out(u)

    @router.get("/users", tags=["auth"])
    def list_users(
        _: Annotated[User, Depends(admins)],
        offset: Offset = 0,
        limit: Limit = 50,
    ) -> PageOut[UserOut]:
        """Users by name (admins)."""
        found, total = users.list(offset, limit)
        return PageOut[UserOut](
            items=[_user_out(u) for u in found],
            total=total,
            offset=offset,
            limit=limit,
        )

    @router.post("/users/{username}/disable", tags=["auth"])
    def disable_user(
        username: Username, admin: Annotated[User, Depends(admins)]
    ) -> UserOut:
        """Disable a user (admins): no login, and every token of theirs is refused at once.

        Disabling a disabled user changes nothing. The last active admin
        cannot be disabled (409, ``field``: ``username``). Ledger:
        ``user.disabled``.
        """
        return _user_out(manage.disable(username, admin.username))

    @router.post("/users/{username}/enable", tags=["auth"])
    def enable_user(
        username: Username, admin: Annotated[User, Depends(admins)]
    ) -> UserOut:
        """Enable a disabled user again (admins); they log in anew. Ledger: ``user.enabled``.

        Enabling an active user changes nothing.
        """
        return _user_out(manage.enable(username, admin.username))

    @router.put("/users/{username}/role", tags=["auth"])
    def set_user_role(
        username: Username, new: RoleIn, admin: Annotated[User, Depends(admins)]
    ) -> UserOut:
        """Give a user another role (admins), from their next request.

        Ledger: ``user.role_changed``. A farmer names a registered farmer (else 422, ``field``:
        ``farmer_id``); staff take no farmer id. The last active admin keeps
        the role (409, ``field``: ``username``).
        """
        return _user_out(
            manage.set_role(username, new.role, new.farmer_id, admin.username)
        )

    @router.post("/users/{username}/password", tags=["auth"])
    def reset_user_password(
        username: Username, new: PasswordIn, admin: Annotated[User, Depends(admins)]
    ) -> UserOut:
        """Set a user's new password (admins): every token of theirs ends now.

        The rules of new users (at least 10 characters; else 422, ``field``:
        ``password``). Ledger: ``user.password_reset``, without the password.
        """
        return _user_out(manage.reset_password(username, new.password, admin.username))

    return router
