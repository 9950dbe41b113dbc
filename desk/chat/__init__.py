"""The team chat (agents and admins): rooms, messages, reactions, typing, unread counts."""
