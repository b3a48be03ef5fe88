"""Webhooks: endpoints, the outbox, the events, URL policy, delivery."""
