"""People: customers who write in, agents and admins who answer."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from desk.models.base import IDS_NEVER_REUSED, Base, UTCDateTime, utcnow
from desk.models.queues import QueueMember


class Role(enum.StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    ADMIN = "admin"


class User(Base):
    __tablename__ = "users"
    # The server defaults below exist for rows older than their columns; new rows get the
    # Python defaults, so nothing needs reading back after an INSERT (which on SQLite made
    # the ORM insert new users one statement at a time).
    __mapper_args__ = {"eager_defaults": False}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(16), default=Role.CUSTOMER.value)
    # A customer created from mail has no password until they claim the account.
    password_hash: Mapped[str | None] = mapped_column(String(200), default=None)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Agents and admins: whether auto-assignment may give them tickets, and how many
    # active tickets they take at most.
    is_available: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    capacity: Mapped[int] = mapped_column(Integer, default=10, server_default="10")
    # Agents: whether a customer's reply on a ticket assigned to them is mailed to them.
    notify_on_reply: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    # Customers: the company their email domain maps to; a company admin sees its tickets.
    company_id: Mapped[int | None] = mapped_column(
        ForeignKey("companies.id"), default=None, index=True
    )
    is_company_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # Staff: their queues and roles there. Loaded with the caller (desk/auth/sessions.py),
    # never lazily: an access check must not hide a database read.
    memberships: Mapped[list[QueueMember]] = relationship(lazy="raise", viewonly=True)

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.AGENT, Role.ADMIN)


class Company(Base):
    __tablename__ = "companies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CompanyDomain(Base):
    """An email domain an admin mapped to a company: customers writing from it join it."""

    __tablename__ = "company_domains"

    domain: Mapped[str] = mapped_column(String(253), primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))


class OtpCode(Base):
    """A sign-up one-time code. Code and verification token are stored as SHA-256 only; the
    row dies after 10 minutes or 5 wrong tries, the verification after 30 minutes or one use."""

    __tablename__ = "otp_codes"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    verification_hash: Mapped[str | None] = mapped_column(String(64), default=None, unique=True)
    verified_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class AuthSession(Base):
    """One login. Its refresh token rotates on every use; only `current_jti` may be used
    next, so presenting an older one is reuse, and the whole session is revoked (RFC 9700
    refresh token rotation). Access tokens name their session and die with it."""

    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    current_jti: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_reason: Mapped[str | None] = mapped_column(String(64), default=None)


class ApiKey(Base):
    """An integration's key; the secret itself is never stored, only its SHA-256."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    lookup: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
