"""The audit log's one writer: an admin's change to people or settings, in the caller's
transaction, so the entry exists exactly when the change does (desk/models/audit.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from desk.models import AuditEntry, User


def audit(
    session: AsyncSession,
    actor: User | None,
    action: str,
    target: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Add an entry: `action` such as "user.invited", `target` such as "user:42"; `actor`
    None is the command line. Details never hold a secret (tokens, passwords)."""
    session.add(
        AuditEntry(
            actor_id=actor.id if actor else None,
            action=action,
            target=target,
            details=details or {},
        )
    )
