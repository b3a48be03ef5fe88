"""Python client for the self-hosted memory server."""

from .client import MemoryClient
from .errors import (
    AuthenticationError,
    ConflictError,
    ConnectionError,
    ForbiddenError,
    MemoryAPIError,
    NotFoundError,
    PreconditionFailedError,
    RateLimitError,
    ServiceUnavailableError,
    ValidationError,
)
from .inputs import MetadataIn, NewMemory, SearchFilters, SearchMode, TagsFilter
from .models import (
    BatchItemResult,
    BatchResult,
    BestChunk,
    DeliveryAttempt,
    Memory,
    MemoryPage,
    MemoryStats,
    OwnerStats,
    SearchResult,
    SearchResults,
    UpdateResult,
    UpsertResult,
    Webhook,
    WorkspaceStats,
)
from .webhooks import verify_webhook

__version__ = "0.1.0"
__all__ = [
    "AuthenticationError",
    "BatchItemResult",
    "BatchResult",
    "BestChunk",
    "ConflictError",
    "ConnectionError",
    "DeliveryAttempt",
    "ForbiddenError",
    "Memory",
    "MemoryAPIError",
    "MemoryClient",
    "MemoryPage",
    "MemoryStats",
    "MetadataIn",
    "NewMemory",
    "NotFoundError",
    "OwnerStats",
    "PreconditionFailedError",
    "RateLimitError",
    "SearchFilters",
    "SearchMode",
    "SearchResult",
    "SearchResults",
    "ServiceUnavailableError",
    "TagsFilter",
    "UpdateResult",
    "UpsertResult",
    "ValidationError",
    "Webhook",
    "WorkspaceStats",
    "verify_webhook",
]
