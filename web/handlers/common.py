"""Small helpers every handler shares."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.multipart import BadContentDispositionHeader
from pydantic import BaseModel, ValidationError

from desk.errors import DeskError, ValidationFailed
from desk.uploads import MAX_FILES, Upload, UploadTooLarge, check_upload, keep_upload
from web.keys import DESK
from web.responses import json_response
from web.schemas import ROW_ID_MAX, row_id

M = TypeVar("M", bound=BaseModel)


def parse_json(raw: bytes | str) -> Any:
    """JSON from a client, any failure a 400 naming the body: bad syntax or encoding, and
    nesting too deep for the parser (RecursionError, some thousands of `[`)."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("the body must be JSON", field="body") from None
    except RecursionError:
        raise ValidationFailed("the JSON is nested too deeply", field="body") from None


UNREADABLE_DISPOSITION = (
    "a form part has no readable name: its Content-Disposition cannot be read"
    " (a quote, backslash or line break in a file name must be escaped, RFC 7578 4.2)"
)


@contextmanager
def malformed_form() -> Iterator[None]:
    """A multipart body that cannot be read is the client's error (400), never a 500: no
    boundary, part headers that do not parse, a part whose transfer or content encoding
    (base64, gzip) does not decode. Errors of our own pass through as they are."""
    try:
        yield
    except (DeskError, ValidationError):
        raise
    except BadContentDispositionHeader:  # aiohttp's warning, raised where warnings are errors
        raise ValidationFailed(UNREADABLE_DISPOSITION, field="body") from None
    except (ValueError, zlib.error, HttpProcessingError) as exc:
        reason = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        raise ValidationFailed(f"the form cannot be read: {reason}"[:300], field="body") from None


async def json_body(request: web.Request, model: type[M]) -> M:
    data = parse_json(await request.read())
    if not isinstance(data, dict):
        raise ValidationFailed("the body must be a JSON object", field="body")
    return model.model_validate(data)


def path_id(request: web.Request, name: str = "id") -> int:
    found = row_id(request.match_info[name])
    if found is None:
        raise ValidationFailed(f"{name} must be a number up to {ROW_ID_MAX}", field=name)
    return found


async def body_and_files(
    request: web.Request, model: type[M], file_parts: tuple[str, ...] = ("files",)
) -> tuple[M, list[Upload]]:
    """A JSON body, or a multipart form whose file parts (named as in `file_parts`) are
    uploads: each is checked for size while it streams in (413) and for type (415) before
    it is kept."""
    if request.content_type != "multipart/form-data":
        return await json_body(request, model), []
    with malformed_form():
        fields, uploads = await _form(request, file_parts)
    return model.model_validate(fields), uploads


async def _form(
    request: web.Request, file_parts: tuple[str, ...]
) -> tuple[dict[str, str], list[Upload]]:
    settings = request.app[DESK].settings
    fields: dict[str, str] = {}
    uploads: list[Upload] = []
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise ValidationFailed("nested multipart is not accepted", field="body")
        if not part.name:  # no Content-Disposition name, or one aiohttp could not parse
            raise ValidationFailed(UNREADABLE_DISPOSITION, field="body")
        if part.filename is None:
            if len(fields) >= 20:
                raise ValidationFailed("too many form fields", field="body")
            fields[part.name] = (await part.read(decode=True))[:200_000].decode("utf-8", "replace")
            continue
        if part.name not in file_parts:
            raise ValidationFailed(
                f"files go in parts named {' or '.join(map(repr, file_parts))}, not {part.name!r}",
                field=part.name,
            )
        if len(uploads) >= MAX_FILES:
            raise ValidationFailed(f"at most {MAX_FILES} files", field="files")
        content_type = part.headers.get("Content-Type", "application/octet-stream")
        check_upload(settings, part.filename, content_type, 0)
        data = await _read_bounded(part, settings.upload_max_bytes, part.filename)
        uploads.append(await keep_upload(settings, part.filename, content_type, data))
    return fields, uploads


async def _read_bounded(part: BodyPartReader, limit: int, filename: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await part.read_chunk(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise UploadTooLarge(
                f"{filename!r} is larger than {limit} bytes", field="files", limit=limit
            )
        chunks.append(chunk)
    return b"".join(chunks)


def page(
    request: web.Request, number: int, count: int, results: list[dict[str, Any]], has_more: bool
) -> web.Response:
    return json_response(page_data(request, number, count, results, has_more))


def page_data(
    request: web.Request, number: int, count: int, results: list[dict[str, Any]], has_more: bool
) -> dict[str, Any]:
    """The `count/next/previous/results` shape every list answers in."""
    return {
        "count": count,
        "next": str(request.url.update_query(page=number + 1)) if has_more else None,
        "previous": str(request.url.update_query(page=number - 1)) if number > 1 else None,
        "results": results,
    }


def whole_list(results: list[dict[str, Any]]) -> web.Response:
    """A list short enough to send at once, in the same shape as a paged one."""
    return json_response(
        {"count": len(results), "next": None, "previous": None, "results": results}
    )
