"""Errors of the ticket workflow, beside the service that raises them."""

from desk.errors import NotFound, PermissionDenied


class TicketNotFound(NotFound):
    code = "ticket_not_found"


class NotAllowedOnTicket(PermissionDenied):
    code = "forbidden"
