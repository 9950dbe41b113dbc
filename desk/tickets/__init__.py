"""Tickets: the only code that writes them (service) and reads them for people (queries)."""
