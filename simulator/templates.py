"""WhatsApp message templates of each WhatsApp Business Account: Graph's ``/<waba_id>/message_templates`` (list
with cursors, create, delete) and a control API to drive the review and the quality pauses.

A created template is PENDING; after the review delay it becomes APPROVED, or REJECTED with a reason
(``POST /_sim/templates/review`` sets the delay and the outcome, per account or for all). ``POST
/_sim/templates/status`` moves a template as Meta would (PAUSED for quality, APPROVED again, DISABLED).
Each status change is announced by a signed ``message_template_status_update`` webhook to the account's
channels that have a webhook URL. Once an account has templates, a template send naming one it does not have,
or one not approved, is refused with Meta's codes (132001, 132015 paused, 132016 disabled).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from simulator.control import SENDER, STATE, ControlError, control_view, json_body, number, optional_text, text
from simulator.graph import bodies, errors
from simulator.graph.errors import GraphError
from simulator.state import Channel, SimulatorState

PENDING = "PENDING"
APPROVED = "APPROVED"
REJECTED = "REJECTED"
PAUSED = "PAUSED"
DISABLED = "DISABLED"
STATUSES = frozenset({PENDING, APPROVED, REJECTED, PAUSED, DISABLED, "IN_APPEAL", "FLAGGED", "REINSTATED"})
CATEGORIES = frozenset({"MARKETING", "UTILITY", "AUTHENTICATION"})
DEFAULT_LIMIT = 25
MAX_LIMIT = 1000
DEFAULT_REVIEW_SECONDS = 0.5
ALREADY_EXISTS_SUBCODE = 2388024
FIELDS = ("id", "name", "language", "category", "status", "quality_score", "components", "parameter_format")


@dataclass(slots=True)
class Template:
    template_id: str
    waba_id: str
    name: str
    language: str
    category: str
    components: list[Any]
    parameter_format: str
    status: str = PENDING
    quality_score: str = "UNKNOWN"
    rejected_reason: str = "NONE"

    def public(self) -> dict[str, Any]:
        return {
            "id": self.template_id,
            "name": self.name,
            "language": self.language,
            "category": self.category,
            "status": self.status,
            "quality_score": {"score": self.quality_score, "date": int(time.time())},
            "components": self.components,
            "parameter_format": self.parameter_format,
            "rejected_reason": self.rejected_reason,
        }


@dataclass(frozen=True, slots=True)
class Review:
    seconds: float = DEFAULT_REVIEW_SECONDS
    outcome: str = APPROVED
    reason: str = "INVALID_FORMAT"


@dataclass(slots=True)
class TemplateBook:
    """Every account's templates, in creation order, and how reviews end."""

    templates: dict[str, Template] = field(default_factory=dict)
    reviews: dict[str, Review] = field(default_factory=dict)
    default_review: Review = field(default_factory=Review)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1_000_000_000_000_001))

    def clear(self) -> None:
        self.templates.clear()
        self.reviews.clear()
        self.default_review = Review()

    def of_account(self, waba_id: str) -> list[Template]:
        return [template for template in self.templates.values() if template.waba_id == waba_id]

    def find(self, waba_id: str, name: str, language: str) -> Template | None:
        return next(
            (t for t in self.of_account(waba_id) if t.name == name and t.language == language),
            None,
        )

    def review_for(self, waba_id: str) -> Review:
        return self.reviews.get(waba_id, self.default_review)


BOOK = web.AppKey("templates", TemplateBook)


# --- Graph endpoints -----------------------------------------------------------------------------


def account_check(state: SimulatorState, waba_id: str, token: str | None) -> GraphError | None:
    """A WABA call needs the token of one of the account's numbers."""
    if token and any(c.waba_id == waba_id and c.access_token == token for c in state.channels.values()):
        return None
    if token and any(c.access_token == token for c in state.channels.values()):
        return errors.unknown_node(waba_id)
    return errors.bad_token()


def request_token(request: web.Request) -> str | None:
    authorization = request.headers.get("Authorization", "")
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip() or None
    return request.query.get("access_token") or None


def error_response(state: SimulatorState, error: GraphError) -> web.Response:
    state.ledger.errors[str(error.code)] += 1
    return web.Response(body=error.body(), status=error.http_status, content_type="application/json")


async def templates_get(request: web.Request) -> web.Response:
    state, book = request.app[STATE], request.app[BOOK]
    waba_id = request.match_info["waba_id"]
    if (refused := account_check(state, waba_id, request_token(request))) is not None:
        return error_response(state, refused)
    try:
        limit = min(max(int(request.query.get("limit", DEFAULT_LIMIT)), 1), MAX_LIMIT)
        start = int(base64.urlsafe_b64decode(request.query["after"]).decode()) if "after" in request.query else 0
    except (ValueError, UnicodeDecodeError):
        return error_response(state, errors.invalid_parameter("Invalid limit or cursor."))
    templates = book.of_account(waba_id)
    page = templates[start : start + limit]
    body: dict[str, Any] = {"data": [template.public() for template in page]}
    if page:
        cursors = {"before": cursor(start), "after": cursor(start + len(page))}
        body["paging"] = {"cursors": cursors}
        if start + len(page) < len(templates):
            query = {**request.query, "after": cursors["after"]}
            body["paging"]["next"] = str(request.url.with_query(query))
    return web.json_response(body)


def cursor(index: int) -> str:
    return base64.urlsafe_b64encode(str(index).encode()).decode()


async def templates_post(request: web.Request) -> web.Response:
    state, book = request.app[STATE], request.app[BOOK]
    waba_id = request.match_info["waba_id"]
    if (refused := account_check(state, waba_id, request_token(request))) is not None:
        return error_response(state, refused)
    payload = bodies.parse_json_object(await request.read())
    problem = create_problem(payload)
    if problem is not None or payload is None:
        return error_response(state, errors.invalid_parameter(problem or "The request body must be a JSON object."))
    if book.find(waba_id, payload["name"], payload["language"]) is not None:
        message = f"Content in this language already exists: {payload['name']} ({payload['language']})."
        return error_response(state, GraphError(400, 100, message, subcode=ALREADY_EXISTS_SUBCODE))
    template = Template(
        template_id=str(next(book.ids)),
        waba_id=waba_id,
        name=payload["name"],
        language=payload["language"],
        category=payload["category"],
        components=payload["components"],
        parameter_format=str(payload.get("parameter_format") or "POSITIONAL"),
    )
    book.templates[template.template_id] = template
    review = book.review_for(waba_id)
    asyncio.get_running_loop().call_later(review.seconds, review_finish, request.app, template.template_id, review)
    return web.json_response({"id": template.template_id, "status": template.status, "category": template.category})


def create_problem(payload: dict[str, Any] | None) -> str | None:
    if payload is None:
        return None
    for name in ("name", "language", "category"):
        if not isinstance(payload.get(name), str) or not payload[name]:
            return f"The parameter {name} is required."
    if payload["category"] not in CATEGORIES:
        return "Invalid parameter: category."
    components = payload.get("components")
    if not isinstance(components, list) or not any(
        isinstance(c, dict) and str(c.get("type", "")).upper() == "BODY" for c in components
    ):
        return "The parameter components is required and must have a BODY."
    return None


def review_finish(app: web.Application, template_id: str, review: Review) -> None:
    template = app[BOOK].templates.get(template_id)
    if template is None or template.status != PENDING:
        return
    reason = review.reason if review.outcome == REJECTED else "NONE"
    status_set(app, template, review.outcome, reason=reason)


async def templates_delete(request: web.Request) -> web.Response:
    state, book = request.app[STATE], request.app[BOOK]
    waba_id = request.match_info["waba_id"]
    if (refused := account_check(state, waba_id, request_token(request))) is not None:
        return error_response(state, refused)
    name, hsm_id = request.query.get("name", ""), request.query.get("hsm_id")
    if not name:
        return error_response(state, errors.missing_parameter("The parameter name is required."))
    doomed = [t for t in book.of_account(waba_id) if t.name == name and (hsm_id is None or t.template_id == hsm_id)]
    if not doomed:
        return error_response(state, GraphError(400, 100, "Message template not found.", subcode=2593002))
    for template in doomed:
        del book.templates[template.template_id]
    return web.json_response({"success": True})


def send_refusal(app: web.Application, channel: Channel, payload: dict[str, Any]) -> GraphError | None:
    """Meta's refusal of a template send, once the account has templates (none: any template passes)."""
    book = app[BOOK]
    if not book.of_account(channel.waba_id):
        return None
    body: dict[str, Any] = payload["template"] if isinstance(payload.get("template"), dict) else {}
    language: dict[str, Any] = body["language"] if isinstance(body.get("language"), dict) else {}
    template = book.find(channel.waba_id, str(body.get("name", "")), str(language.get("code", "")))
    if template is None or template.status not in {APPROVED, PAUSED, DISABLED}:
        return GraphError(404, 132001, "Template name does not exist in the translation", is_transient=False)
    if template.status == PAUSED:
        return GraphError(400, 132015, "Template is Paused", is_transient=False)
    if template.status == DISABLED:
        return GraphError(400, 132016, "Template is Disabled", is_transient=False)
    return None


# --- Status changes and their webhooks -----------------------------------------------------------


def status_set(app: web.Application, template: Template, status: str, *, reason: str = "NONE") -> None:
    template.status = status
    template.rejected_reason = reason if status == REJECTED else "NONE"
    value = {
        "event": status,
        "message_template_id": int(template.template_id),
        "message_template_name": template.name,
        "message_template_language": template.language,
        "reason": reason,
    }
    account_webhook(app, template.waba_id, "message_template_status_update", value)


def quality_set(app: web.Application, template: Template, score: str) -> None:
    previous, template.quality_score = template.quality_score, score
    value = {
        "previous_quality_score": previous,
        "new_quality_score": score,
        "message_template_id": int(template.template_id),
        "message_template_name": template.name,
        "message_template_language": template.language,
    }
    account_webhook(app, template.waba_id, "message_template_quality_update", value)


def account_webhook(app: web.Application, waba_id: str, field_name: str, value: dict[str, Any]) -> None:
    """One account-level change, posted once per webhook URL of the account's channels."""
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": waba_id, "time": int(time.time()), "changes": [{"value": value, "field": field_name}]}],
    }
    seen: set[str] = set()
    for channel in app[STATE].channels.values():
        if channel.waba_id == waba_id and channel.webhook_url and channel.webhook_url not in seen:
            seen.add(channel.webhook_url)
            app[SENDER].submit(channel, payload, items=1)


# --- Control API ---------------------------------------------------------------------------------


async def review_post(request: web.Request) -> web.Response:
    """``{"waba_id"?, "delay_seconds"?, "outcome"?: APPROVED|REJECTED, "reason"?}``: how reviews end from now on
    (for one account, or for every account without its own)."""
    book = request.app[BOOK]
    data = await json_body(request)
    if not isinstance(data, dict):
        raise ControlError("the body must be a JSON object")
    outcome = text(data, "outcome", default=APPROVED)
    if outcome not in {APPROVED, REJECTED}:
        raise ControlError("outcome must be APPROVED or REJECTED")
    review = Review(
        seconds=number(data, "delay_seconds", DEFAULT_REVIEW_SECONDS, maximum=3600.0),
        outcome=outcome,
        reason=text(data, "reason", default="INVALID_FORMAT"),
    )
    waba_id = optional_text(data, "waba_id")
    if waba_id is None:
        book.default_review = review
    else:
        book.reviews[waba_id] = review
    return web.json_response({"waba_id": waba_id, "delay_seconds": review.seconds, "outcome": review.outcome})


async def status_post(request: web.Request) -> web.Response:
    """``{"waba_id", "name", "language", "status"?, "quality_score"?, "reason"?}``: move a template as Meta does
    (a quality change first, then the status), each announced by its webhook."""
    book = request.app[BOOK]
    data = await json_body(request)
    if not isinstance(data, dict):
        raise ControlError("the body must be a JSON object")
    template = book.find(text(data, "waba_id"), text(data, "name"), text(data, "language"))
    if template is None:
        raise ControlError("no such template")
    score = optional_text(data, "quality_score")
    if score is not None:
        quality_set(request.app, template, score)
    status = optional_text(data, "status")
    if status is not None:
        if status not in STATUSES:
            raise ControlError(f"status must be one of {sorted(STATUSES)}")
        status_set(request.app, template, status, reason=text(data, "reason", default="NONE"))
    return web.json_response(template.public())


async def list_get(request: web.Request) -> web.Response:
    return web.json_response(
        {"templates": [{**t.public(), "waba_id": t.waba_id} for t in request.app[BOOK].templates.values()]}
    )


def routes_add(app: web.Application) -> None:
    """The Graph and control routes; the book empties when the simulator is reset (``DELETE /_sim/channels``)."""
    book = TemplateBook()
    app[BOOK] = book
    app[STATE].on_reset.append(book.clear)
    path = "/{version}/{waba_id}/message_templates"
    app.router.add_get(path, templates_get)
    app.router.add_post(path, templates_post)
    app.router.add_delete(path, templates_delete)
    app.router.add_post("/_sim/templates/review", control_view(review_post))
    app.router.add_post("/_sim/templates/status", control_view(status_post))
    app.router.add_get("/_sim/templates", control_view(list_get))
