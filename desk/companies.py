"""Companies: customers grouped by the email domains an admin maps to them. A customer who
is their company's admin sees every ticket of the company (desk.auth.access)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, false, func, not_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from desk.db import Database
from desk.errors import Conflict, NotFound, ValidationFailed
from desk.models import Company, CompanyDomain, Role, Ticket, User


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


def company_data(company: Company, domains: list[str]) -> dict[str, Any]:
    return {
        "id": company.id,
        "name": company.name,
        "domains": sorted(domains),
        "created_at": company.created_at.isoformat(),
    }


async def list_companies(db: Database, company_id: int | None = None) -> list[dict[str, Any]]:
    """Every company (or the one `company_id`) with its domains, in two queries."""
    async with db.reader() as session:
        query, domain_query = (
            select(Company),
            select(CompanyDomain.company_id, CompanyDomain.domain),
        )
        if company_id is not None:
            query = query.where(Company.id == company_id)
            domain_query = domain_query.where(CompanyDomain.company_id == company_id)
        companies = list(await session.scalars(query.order_by(Company.name)))
        rows = await session.execute(domain_query)
        domains: dict[int, list[str]] = {}
        for company_id, domain in rows.all():
            domains.setdefault(company_id, []).append(domain)
    return [company_data(c, domains.get(c.id, [])) for c in companies]


async def create_company(session: AsyncSession, name: str, domains: list[str]) -> Company:
    if await session.scalar(select(func.count()).where(Company.name == name)):
        raise Conflict(f"a company named {name!r} exists", field="name")
    company = Company(name=name)
    session.add(company)
    await session.flush()
    await set_domains(session, company, domains)
    return company


async def set_domains(session: AsyncSession, company: Company, domains: list[str]) -> None:
    """Map `domains` to `company`: its existing and future customers from them join it, and
    their tickets become visible to the company's admins."""
    wanted = sorted({d.strip().lower().lstrip("@") for d in domains if d.strip()})
    for d in wanted:
        if "." not in d or any(c in d for c in " @/"):
            raise ValidationFailed(f"{d!r} is not a domain", field="domains")
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
