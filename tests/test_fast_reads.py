"""Database.fetch, the read path of every request: statements built once and reused, so
each call must bring every value it names, and constants stay constants."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, select

from desk.models import User


@pytest.fixture
async def people(daemon, make_user):
    for email, role in (
        ("a1@localhost", "agent"),
        ("a2@localhost", "agent"),
        ("c1@localhost", "customer"),
    ):
        await make_user(email, role)
    return daemon.desk.db


BY_ROLE = (
    select(User.email)
    .where(User.role == bindparam("role"), User.email != "nobody@localhost")
    .order_by(User.email)
)
BY_EMAILS = select(User.email).where(User.email.in_(bindparam("emails", expanding=True)))


async def test_each_call_brings_its_own_values(people):
    agents = await people.fetch(BY_ROLE, {"role": "agent"})
    customers = await people.fetch(BY_ROLE, {"role": "customer"})
    assert [r["email"] for r in agents] == ["a1@localhost", "a2@localhost"]
    assert [r["email"] for r in customers] == ["c1@localhost"]


async def test_a_named_value_left_out_is_refused_not_borrowed(people):
    await people.fetch(BY_ROLE, {"role": "agent"})
    with pytest.raises(KeyError, match="role"):
        await people.fetch(BY_ROLE, {})


async def test_in_lists_go_through_sqlalchemy_with_the_same_answer(people):
    seen: list[str] = []
    people.fetch_listeners.append(seen.append)
    rows = await people.fetch(BY_EMAILS, {"emails": ["a2@localhost", "c1@localhost"]})
    people.fetch_listeners.remove(seen.append)
    assert sorted(r["email"] for r in rows) == ["a2@localhost", "c1@localhost"]
    assert seen == []  # not sent past SQLAlchemy: an IN list is expanded per call
