"""/demo/phone (only in `pager demo`; 404 otherwise): each demo person's SMS pages, newest first, with
a reply form. A reply is posted to this app's own /twilio/sms, in process, as Twilio would post it
(form fields, signed with the Twilio auth token), so the signature check and the reply handling are
the real ones; the page shows what pager answered. Replying needs the responder role."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from pager.api.console.web import CsrfDep, LoggedInDep, Page, require
from pager.api.deps import MAX_ID
from pager.api.twilio_webhooks import SIGNATURE_HEADER
from pager.services.errors import InvalidInput, NotFound
from pager.services.phone import demo_phone

router = APIRouter(include_in_schema=False)


def _demo_only(page: Page) -> None:
    if not page.runtime.demo:
        raise HTTPException(404, "Not Found")


async def _render(page: Page, status_code: int = 200, **extra: object) -> Response:
    found = await run_in_threadpool(demo_phone.phones, page.runtime)
    return page.render("demo_phone.html", status_code, phones=found, **extra)


@router.get("/demo/phone")
async def phone_page(page: LoggedInDep) -> Response:
    _demo_only(page)
    return await _render(page)


@router.post("/demo/phone/reply")
async def send_reply(
    page: CsrfDep,
    handle: Annotated[str, Form(max_length=64)],
    message: Annotated[int, Form(ge=1, le=MAX_ID)],
    text: Annotated[str, Form(max_length=demo_phone.MAX_REPLY * 2)] = "",
) -> Response:
    """Send `text` as `handle`'s SMS answer to page `message`, through the signed /twilio/sms route."""
    _demo_only(page)
    require(page, "responder")
    try:
        reply = await run_in_threadpool(demo_phone.signed_reply, page.runtime, handle, message, text)
    except (InvalidInput, NotFound) as exc:
        status = 404 if isinstance(exc, NotFound) else 422
        return await _render(page, status, error=str(exc), replied_to=message)
    import httpx  # the demo only: `pager serve` never loads it (docs/operations.md, "Memory")

    transport = httpx.ASGITransport(app=page.request.app, client=("127.0.0.1", 0))
    # The path is /twilio/sms whatever PAGER_PUBLIC_URL is; the route checks the signature against
    # PAGER_PUBLIC_URL + /twilio/sms, which is what signed_reply signed.
    async with httpx.AsyncClient(transport=transport, base_url="http://pager.in-process") as client:
        answer = await client.post(
            demo_phone.SMS_PATH, data=reply.form, headers={SIGNATURE_HEADER: reply.signature}
        )
    if answer.status_code != 200:
        return await _render(
            page, 502, error=f"/twilio/sms answered {answer.status_code}: {answer.text}", replied_to=message
        )
    texts = demo_phone.twiml_messages(answer.text)
    said = " ".join(texts) if texts else "(no answer: this message was handled before)"
    return await _render(page, sent=text.strip(), answer=said, replied_to=message, replied_by=handle)
