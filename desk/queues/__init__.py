"""Queues: where tickets live, who works them (desk.auth.access holds the rule)."""
