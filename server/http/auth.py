"""Login, logout and users: bearer tokens, and the dependency that admits a user by role.

:func:`make_require` is the one role check: ``require(action)`` admits a
logged-in user whose role the access policy lets take ``action`` (401 without
a valid token, 403 for any other role). Routers declare it through
``Depends(deps.may("claims.read"))`` (:mod:`server.services.access`).

(No ``from __future__ import annotations``: see :mod:`server.http.deps`.)
"""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, status
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
    AuthError,
    LoginLimits,
    Role,
    TooManyAttemptsError,
    UnknownFarmerError,
    User,
    UserStore,
)

__all__ = [
    "TOKEN_PATH",
    "Credentials",
    "PasswordForm",
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


class UserOut(BaseModel):
    """An API user (never the password)."""

    id: str
    username: str
    role: str
    farmer_id: str | None


def _user_out(u: User) -> UserOut:
    return UserOut(id=u.id, username=u.username, role=u.role, farmer_id=u.farmer_id)


def user_store(ctx: AppContext) -> UserStore:
    """The users and tokens of ``ctx``'s database, with the login limits of its settings."""
    settings = ctx.settings
    return UserStore(
        ctx.engine,
        settings.token_ttl_s,
        LoginLimits(
            max_failures=settings.login_max_failures,
            max_failures_per_address=settings.login_max_failures_per_address,
            max_failures_per_user=settings.login_max_failures_per_user,
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


def make_require(users: UserStore) -> Callable[[Action], Callable[..., User]]:
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

    def require(action: Action) -> Callable[..., User]:
        allowed = ", ".join(roles_for(action))

        def check(user: Annotated[User, Depends(current_user)]) -> User:
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


def auth_router(deps: Deps, users: UserStore) -> APIRouter:
    """Routes for logging in and out, and for users (admins)."""
    router = APIRouter(prefix=API)
    admins = deps.may("users.manage")
    registered = farmer_registered(deps.ctx)

    @router.post(TOKEN_PATH.removeprefix(API), tags=["auth"], openapi_extra=_TOKEN_BODY)
    async def login(request: Request) -> Token:
        """Exchange a username and password for a bearer token.

        Send the OAuth2 password form (``application/x-www-form-urlencoded``:
        ``username``, ``password``, ``grant_type=password``; what the docs'
        Authorize button sends) or JSON ``{"username", "password"}``. After
        too many failures from one address (for one username) the answer is
        429 with ``Retry-After`` in seconds.
        """
        credentials = await _credentials(request)
        address = request.client.host if request.client else "unknown"
        try:
            token, expires = await run_in_threadpool(
                users.login, credentials.username, credentials.password, address
            )
        except TooManyAttemptsError as exc:
            raise FieldHTTPError(
                status.HTTP_429_TOO_MANY_REQUESTS,
                str(exc),
                field="username",
                headers={"Retry-After": str(exc.retry_after_s)},
            ) from exc
        except AuthError as exc:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                str(exc),
                headers={"WWW-Authenticate": "Bearer"},
            ) from exc
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
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)
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

    return router
