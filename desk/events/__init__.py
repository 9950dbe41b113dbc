"""Domain events: frozen records published after commit, carried by one bus."""

from desk.events.bus import EventBus, LocalBus, Subscriber
from desk.events.types import Event

__all__ = ["Event", "EventBus", "LocalBus", "Subscriber"]
