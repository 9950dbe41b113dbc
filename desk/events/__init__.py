"""Domain events: frozen records published after commit, carried by one bus."""

from desk.events.base import Event
from desk.events.bus import EventBus, Kinds, LocalBus, Subscriber, waker

__all__ = ["Event", "EventBus", "Kinds", "LocalBus", "Subscriber", "waker"]
