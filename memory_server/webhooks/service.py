"""What the webhooks API does, whichever surface asks: vet URLs, register, change, wake senders."""

from __future__ import annotations

from memory_server.scope import Scope
from memory_server.webhooks.delivery import WebhookDispatcher
from memory_server.webhooks.endpoints import Attempt, Endpoint, EndpointRegistry, NewEndpoint
from memory_server.webhooks.outbox import Outbox
from memory_server.webhooks.urls import check_url

# A resolver that does not answer holds no request thread longer than this: the host is then
# registered unresolved, and each delivery resolves and vets it again.
REGISTRATION_RESOLVE_SECONDS = 2.0


class WebhookService:
    """Endpoints of a scope, registered only where the network policy lets webhooks call."""

    def __init__(
        self, endpoints: EndpointRegistry, outbox: Outbox, dispatcher: WebhookDispatcher
    ) -> None:
        self.endpoints = endpoints
        self.outbox = outbox
        self.dispatcher = dispatcher

    def vet(self, url: str) -> None:
        """Raise InvalidURL (malformed) or RefusedURL (the policy) unless webhooks may call it."""
        check_url(
            url, self.dispatcher.policy, unresolved_ok=True,
            resolve_timeout=REGISTRATION_RESOLVE_SECONDS,
        )  # fmt: skip

    def register(
        self, scope: Scope, url: str, events: list[str], description: str | None = None
    ) -> NewEndpoint:
        """Vet the URL and register an endpoint for these events (each named once)."""
        self.vet(url)
        return self.endpoints.create(scope, url, list(dict.fromkeys(events)), description)

    def update(
        self,
        scope: Scope,
        endpoint_id: str,
        *,
        url: str | None = None,
        events: list[str] | None = None,
        description: str | None = None,
        enabled: bool | None = None,
    ) -> Endpoint:
        """Change what is given; an enabled endpoint's backlog is sent at once."""
        if url is not None:
            self.vet(url)
        if events is not None:
            events = list(dict.fromkeys(events))
        endpoint = self.endpoints.update(
            scope, endpoint_id, url=url, events=events, description=description, enabled=enabled
        )
        if endpoint.enabled:
            self.dispatcher.wake()  # a re-enabled endpoint may have a backlog
        return endpoint

    def list(self, scope: Scope) -> list[Endpoint]:
        """The scope's endpoints, oldest first."""
        return self.endpoints.list(scope)

    def get(self, scope: Scope, endpoint_id: str) -> Endpoint:
        """One endpoint of the scope (WebhookNotFound otherwise)."""
        return self.endpoints.get(scope, endpoint_id)

    def delete(self, scope: Scope, endpoint_id: str) -> None:
        """Remove an endpoint with its pending deliveries and its log."""
        self.endpoints.delete(scope, endpoint_id)

    def attempts(self, scope: Scope, endpoint_id: str, limit: int = 50) -> list[Attempt]:
        """The endpoint's most recent delivery attempts, newest first."""
        return self.endpoints.attempts(scope, endpoint_id, limit)
