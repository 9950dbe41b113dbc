"""Companies: customers grouped by the email domains an admin maps to them. A customer who
is their company's admin sees every ticket of the company (desk.auth.access)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import delete, false, func, not_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from desk.db import Database
from desk.errors import Conflict, NotFound, ValidationFailed
from desk.models import Company, CompanyDomain, Role, Ticket, User

# A host name as DNS has it (RFC 1035 §2.3.1, with digits first as RFC 1123 allows): labels
# of letters, digits and inner hyphens, 1 to 63 long; at least two of them; 253 in all.
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def normal_domain(typed: str) -> str:
    """A company's email domain as stored: stripped, lower case, one trailing dot (the DNS
    root, "acme.test.") dropped, a leading "@" dropped. ValidationFailed, naming it, for
    anything that is not a domain name."""
    domain = typed.strip().lower().removeprefix("@").removesuffix(".")
    labels = domain.split(".")
    if len(domain) > 253 or len(labels) < 2 or not all(_LABEL.fullmatch(x) for x in labels):
        shown = typed.strip()
        raise ValidationFailed(
            f"“{shown}” is not a domain name (like example.com)", field="domains"
        )
    return domain


def domain_of(email: str) -> str:
    return email.rpartition("@")[2].lower()


async def companies_for(session: AsyncSession, emails: set[str]) -> dict[str, int]:
    """Company id by email, for the emails whose domain is mapped (one query)."""
    domains = {domain_of(e) for e in emails}
    if not domains:
        return {}
    rows = await session.execute(
        select(CompanyDomain.domain, CompanyDomain.company_id).where(
            CompanyDomain.domain.in_(domains)
        )
    )
    by_domain = dict(rows.all())
    return {e: by_domain[domain_of(e)] for e in emails if domain_of(e) in by_domain}


def company_data(company: Company, domains: list[str], members: int = 0) -> dict[str, Any]:
    return {
        "id": company.id,
        "name": company.name,
        "domains": sorted(domains),
        "members": members,
        "created_at": company.created_at.isoformat(),
    }


async def list_companies(db: Database, company_id: int | None = None) -> list[dict[str, Any]]:
    """Every company (or the one `company_id`) by name, with its domains and its members
    (the customers who belong to it), in three queries."""
    async with db.reader() as session:
        query, domain_query = (
            select(Company),
            select(CompanyDomain.company_id, CompanyDomain.domain),
        )
        member_query = select(User.company_id, func.count()).where(User.company_id.is_not(None))
        if company_id is not None:
            query = query.where(Company.id == company_id)
            domain_query = domain_query.where(CompanyDomain.company_id == company_id)
            member_query = member_query.where(User.company_id == company_id)
        companies = list(await session.scalars(query.order_by(Company.name)))
        rows = await session.execute(domain_query)
        domains: dict[int, list[str]] = {}
        for owner, domain in rows.all():
            domains.setdefault(owner, []).append(domain)
        counted = await session.execute(member_query.group_by(User.company_id))
        members = {int(owner or 0): int(n) for owner, n in counted.all()}
    return [company_data(c, domains.get(c.id, []), members.get(c.id, 0)) for c in companies]


async def add_company(db: Database, name: str, domains: list[str]) -> dict[str, Any]:
    """A new company with its domains (customers from them join it at once); answers it as
    `list_companies` does. Conflict (409) for a taken name or domain, ValidationFailed
    (400) for an empty name or a malformed domain. The API's POST and the console's form."""
    async with db.writer() as session:
        company = await create_company(session, _checked_name(name), domains)
        company_id = company.id
    [created] = await list_companies(db, company_id)
    return created


async def change_company(
    db: Database, company_id: int, *, name: str | None = None, domains: list[str] | None = None
) -> dict[str, Any]:
    """Rename a company and/or map it to exactly `domains` (None: left as is); answers it as
    `list_companies` does. NotFound, Conflict and ValidationFailed as `add_company`."""
    async with db.writer() as session:
        company = await get_company(session, company_id)
        if name is not None and name.strip() != company.name:
            company.name = await _free_name(session, _checked_name(name))
        if domains is not None:
            await set_domains(session, company, domains)
    [changed] = await list_companies(db, company_id)
    return changed


def _checked_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise ValidationFailed("a company's name is 1 to 200 characters", field="name")
    return name


async def _free_name(session: AsyncSession, name: str) -> str:
    if await session.scalar(select(func.count()).where(Company.name == name)):
        raise Conflict(f"a company named {name!r} exists", field="name")
    return name


async def create_company(session: AsyncSession, name: str, domains: list[str]) -> Company:
    company = Company(name=await _free_name(session, name))
    session.add(company)
    await session.flush()
    await set_domains(session, company, domains)
    return company


async def set_domains(session: AsyncSession, company: Company, domains: list[str]) -> None:
    """Map `domains` to `company`: its existing and future customers from them join it, and
    their tickets become visible to the company's admins."""
    wanted = sorted({normal_domain(d) for d in domains if d.strip()})
    taken = await session.scalar(
        select(CompanyDomain.domain).where(
            CompanyDomain.domain.in_(wanted), CompanyDomain.company_id != company.id
        )
    )
    if taken:
        raise Conflict(f"domain {taken} belongs to another company", field="domains")
    await session.execute(delete(CompanyDomain).where(CompanyDomain.company_id == company.id))
    session.add_all(CompanyDomain(domain=d, company_id=company.id) for d in wanted)
    await session.flush()
    await _rejoin(session, company.id, wanted)


async def _rejoin(session: AsyncSession, company_id: int, domains: list[str]) -> None:
    is_customer = User.role == Role.CUSTOMER.value
    member = or_(*[User.email.endswith(f"@{d}", autoescape=True) for d in domains], false())
    await session.execute(update(User).where(is_customer, member).values(company_id=company_id))
    await session.execute(
        update(User)
        .where(is_customer, User.company_id == company_id, not_(member))
        .values(company_id=None, is_company_admin=False)
    )
    members = select(User.id).where(User.company_id == company_id)
    await session.execute(
        update(Ticket).where(Ticket.customer_id.in_(members)).values(company_id=company_id)
    )
    await session.execute(
        update(Ticket)
        .where(Ticket.company_id == company_id, Ticket.customer_id.not_in(members))
        .values(company_id=None)
    )


async def get_company(session: AsyncSession, company_id: int) -> Company:
    company = await session.get(Company, company_id)
    if company is None:
        raise NotFound(f"no company {company_id}")
    return company
