"""`/api/v1/webhooks`: register, inspect, change and remove webhook endpoints."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, url_for

from memory_server.api.auth import current_scope, protect
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

bp = Blueprint("webhooks", __name__, url_prefix="/api/v1/webhooks")
protect(bp)

_webhook = schema(WebhookSchema)


@bp.post("")
@documented(
    {201: Reply("Registered; keep the secret.", WebhookCreatedSchema, ("Location",))},
    body=WebhookCreateSchema,
    errors=[403, 409],
)
def create_webhook() -> tuple[Response, int]:
    """Register an endpoint; the response holds its signing secret, shown only this once."""
    body = json_body(schema(WebhookCreateSchema))
    new = services().webhooks.register(
        current_scope(), body["url"], body["events"], body.get("description")
    )
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
    endpoint = services().webhooks.update(current_scope(), webhook_id, **body)
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
