"""Outbound webhooks: subscriptions, the durable delivery queue (filled in the transaction of
each change), Standard Webhooks signing, and the guard against request forgery. The HTTP
client that delivers lives in daemon/webhook_sender.py."""
