"""Live events over WebSocket: the hub that fans the bus out (hub.py), one socket's life
(connection.py), the ticket and notification sockets (tickets.py) and the chat socket
(chat.py)."""
