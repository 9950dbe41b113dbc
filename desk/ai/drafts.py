"""`POST /api/tickets/<id>/ai-draft/`: a draft for the agent to edit and send as a normal
reply; nothing is sent or stored here. Errors name what went wrong upstream: no key is 503
`ai_unavailable`, no answer in time is 504 `ai_timeout`, an error from Gemini is 502
`ai_upstream_error` with its reason."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from google import genai
from google.genai import errors, types
from sqlalchemy import select

from desk.ai.prompt import build_prompt
from desk.context import Desk
from desk.errors import DeskError, PermissionDenied
from desk.models import TicketMessage, User
from desk.tickets.queries import visible_ticket

log = logging.getLogger(__name__)
MAX_OUTPUT_TOKENS = 1024


class AiUnavailable(DeskError):
    code = "ai_unavailable"
    status = 503


class AiTimeout(DeskError):
    code = "ai_timeout"
    status = 504


class AiUpstreamError(DeskError):
    code = "ai_upstream_error"
    status = 502


async def draft_reply(desk: Desk, agent: User, ticket_id: int) -> dict[str, Any]:
    async with desk.db.reader() as session:
        ticket = await visible_ticket(session, agent, ticket_id)  # 404 before 403, as REST
        if not agent.is_staff:
            raise PermissionDenied("only agents and admins ask for drafts")
        customer = await session.get(User, ticket.customer_id)
        messages = list(
            await session.scalars(
                select(TicketMessage)
                .where(TicketMessage.ticket_id == ticket.id)
                .order_by(TicketMessage.id)
            )
        )
    s = desk.settings
    if not s.gemini_api_key:
        raise AiUnavailable("AI drafts are off: POSTDESK_GEMINI_API_KEY is not set")
    assert customer is not None
    prompt = build_prompt(s.desk_name, agent, ticket, customer, messages)
    text = await _generate(desk, prompt.system, prompt.conversation)
    return {"ticket_id": ticket.id, "draft": text, "model": s.gemini_model}


async def _generate(desk: Desk, system: str, conversation: str) -> str:
    s = desk.settings
    options = types.HttpOptions(
        base_url=s.gemini_base_url,
        timeout=int(s.gemini_timeout_seconds * 1000),
        retry_options=types.HttpRetryOptions(attempts=1),
    )
    client = genai.Client(api_key=s.gemini_api_key, http_options=options)
    config = types.GenerateContentConfig(
        system_instruction=system, temperature=0.3, max_output_tokens=MAX_OUTPUT_TOKENS
    )
    try:
        async with asyncio.timeout(s.gemini_timeout_seconds):
            response = await client.aio.models.generate_content(
                model=s.gemini_model, contents=conversation, config=config
            )
    except TimeoutError:
        raise AiTimeout(f"Gemini did not answer within {s.gemini_timeout_seconds:g} s") from None
    except errors.APIError as exc:
        log.warning("Gemini refused a draft: %s %s", exc.code, exc.message)
        raise AiUpstreamError(
            f"Gemini answered {exc.code}: {exc.message or exc.status}", upstream_status=exc.code
        ) from None
    except Exception as exc:  # connection refused, bad JSON...: still the upstream's fault
        log.warning("Gemini could not be reached", exc_info=True)
        raise AiUpstreamError(f"Gemini could not be reached: {type(exc).__name__}") from None
    finally:
        await client.aio.aclose()
    text = (response.text or "").strip()
    if not text:
        reason = _finish_reason(response)
        raise AiUpstreamError(f"Gemini returned no draft ({reason})", upstream_status=200)
    return text


def _finish_reason(response: types.GenerateContentResponse) -> str:
    if response.prompt_feedback and response.prompt_feedback.block_reason:
        return f"blocked: {response.prompt_feedback.block_reason}"
    if response.candidates and response.candidates[0].finish_reason:
        return f"finish reason {response.candidates[0].finish_reason}"
    return "empty answer"
