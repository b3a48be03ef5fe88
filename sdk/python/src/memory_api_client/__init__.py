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
from .inputs import MetadataIn, NewMemory, OnDuplicate, SearchFilters, SearchMode, TagsFilter
from .models import (
    BatchItemResult,
    BatchResult,
    BestChunk,
    DeliveryAttempt,
    Memory,
    MemoryPage,
    MemoryStats,
    MemoryVersion,
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
    "Memory",
    "MemoryAPIError",
    "MemoryClient",
    "MemoryPage",
    "MemoryStats",
    "MemoryVersion",
    "MetadataIn",
    "NewMemory",
    "NotFoundError",
    "OnDuplicate",
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
