"""Mail out: the outbox sender and the SMTP relay transport."""
