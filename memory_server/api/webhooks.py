"""`/api/v1/webhooks`: register, inspect, change and remove webhook endpoints."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, url_for

from memory_server.api.auth import current_scope, protect
from memory_server.api.errors import APIError, invalid_request
from memory_server.api.http_input import json_body, query_args
from memory_server.api.openapi_operations import Reply, documented
from memory_server.api.response_schemas import (
    DeletedSchema,
    DeliveryAttemptSchema,
    DeliveryListSchema,
    WebhookCreatedSchema,
    WebhookListSchema,
    WebhookSchema,
)
from memory_server.api.schemas import (
    DeliveriesQuerySchema,
    WebhookCreateSchema,
    WebhookUpdateSchema,
    schema,
)
from memory_server.services import services
from memory_server.webhooks.urls import InvalidURL, RefusedURL, check_url

bp = Blueprint("webhooks", __name__, url_prefix="/api/v1/webhooks")
protect(bp)

_webhook = schema(WebhookSchema)
# A resolver that does not answer holds no request thread longer than this: the host is then
# registered unresolved, and each delivery tries again.
REGISTRATION_RESOLVE_SECONDS = 2.0


def _vetted(url: str) -> str:
    """The URL if webhooks may call it; else a 400 (malformed) or 403 (policy) that says why."""
    try:
        # A host DNS cannot resolve yet is fine: each delivery resolves and vets it again.
        check_url(
            url, services().dispatcher.policy, unresolved_ok=True,
            resolve_timeout=REGISTRATION_RESOLVE_SECONDS,
        )  # fmt: skip
    except InvalidURL as exc:
        details = {"fields": {"url": [str(exc)]}}
        raise invalid_request(f"Invalid webhook URL: {exc}", details) from exc
    except RefusedURL as exc:
        # Well-formed, but not somewhere this server calls: the operator's policy, not a
        # malformed request.
        raise APIError(
            403, "WEBHOOK_URL_NOT_ALLOWED", f"Webhook URL not allowed: {exc}",
            {"fields": {"url": [str(exc)]}},
        ) from exc  # fmt: skip
    return url


@bp.post("")
@documented(
    {201: Reply("Registered; keep the secret.", WebhookCreatedSchema, ("Location",))},
    body=WebhookCreateSchema,
    errors=[403, 409],
)
def create_webhook() -> tuple[Response, int]:
    """Register an endpoint; the response holds its signing secret, shown only this once."""
    body = json_body(schema(WebhookCreateSchema))
    new = services().webhooks.create(
        current_scope(), _vetted(body["url"]), list(dict.fromkeys(body["events"])),
        body.get("description"),
    )  # fmt: skip
    response = jsonify({**_webhook.dump(new.endpoint), "secret": new.secret})
    response.headers["Location"] = url_for(".get_webhook", webhook_id=new.endpoint.id)
    return response, 201


@bp.get("")
@documented({200: Reply("The endpoints.", WebhookListSchema)})
def list_webhooks() -> Response:
    """The workspace's endpoints."""
    endpoints = services().webhooks.list(current_scope())
    return jsonify({"webhooks": schema(WebhookSchema, many=True).dump(endpoints)})


@bp.get("/<webhook_id>")
@documented({200: Reply("The endpoint.", WebhookSchema)}, errors=[404])
def get_webhook(webhook_id: str) -> Response:
    """One endpoint."""
    return jsonify(_webhook.dump(services().webhooks.get(current_scope(), webhook_id)))


@bp.patch("/<webhook_id>")
@documented(
    {200: Reply("The changed endpoint.", WebhookSchema)},
    body=WebhookUpdateSchema,
    errors=[403, 404],
)
def update_webhook(webhook_id: str) -> Response:
    """Change url, events or description; `enabled` false pauses deliveries, true resumes them."""
    body = json_body(schema(WebhookUpdateSchema))
    if "url" in body:
        _vetted(body["url"])
    if "events" in body:
        body["events"] = list(dict.fromkeys(body["events"]))
    endpoint = services().webhooks.update(current_scope(), webhook_id, **body)
    if endpoint.enabled:
        services().dispatcher.wake()  # a re-enabled endpoint may have a backlog
    return jsonify(_webhook.dump(endpoint))


@bp.delete("/<webhook_id>")
@documented({200: Reply("Removed.", DeletedSchema)}, errors=[404])
def delete_webhook(webhook_id: str) -> Response:
    """Remove an endpoint, its pending deliveries and its log."""
    services().webhooks.delete(current_scope(), webhook_id)
    return jsonify({"success": True, "deleted_id": webhook_id})


@bp.get("/<webhook_id>/deliveries")
@documented(
    {200: Reply("Attempts, newest first.", DeliveryListSchema)},
    query=DeliveriesQuerySchema,
    errors=[404],
)
def list_deliveries(webhook_id: str) -> Response:
    """The endpoint's recent delivery attempts, newest first."""
    query = query_args(schema(DeliveriesQuerySchema))
    attempts = services().webhooks.attempts(current_scope(), webhook_id, query["limit"])
    return jsonify({"deliveries": schema(DeliveryAttemptSchema, many=True).dump(attempts)})
