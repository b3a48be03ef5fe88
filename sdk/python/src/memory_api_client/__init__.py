"""Python client for the self-hosted memory server."""

from .client import MemoryClient
from .errors import (
    AuthenticationError,
    ConflictError,
    ConnectionError,
    MemoryAPIError,
    NotFoundError,
    PreconditionFailedError,
    RateLimitError,
    ServiceUnavailableError,
    ValidationError,
)
from .inputs import NewMemory
from .models import (
    BatchItemResult,
    BatchResult,
    DeliveryAttempt,
    Memory,
    MemoryPage,
    SearchResult,
    SearchResults,
    UpdateResult,
    UpsertResult,
    Webhook,
)
from .webhooks import verify_webhook

__version__ = "0.1.0"
__all__ = [
    "AuthenticationError",
    "BatchItemResult",
    "BatchResult",
    "ConflictError",
    "ConnectionError",
    "DeliveryAttempt",
    "Memory",
    "MemoryAPIError",
    "MemoryClient",
    "MemoryPage",
    "NewMemory",
    "NotFoundError",
    "PreconditionFailedError",
    "RateLimitError",
    "SearchResult",
    "SearchResults",
    "ServiceUnavailableError",
    "UpdateResult",
    "UpsertResult",
    "ValidationError",
    "Webhook",
    "verify_webhook",
]
