"""The HTTP layer: the two REST surfaces and webhooks API, their schemas, errors, auth, quotas."""
