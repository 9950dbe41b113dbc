"""The helpdesk domain shared by the daemon and the web side: no protocol code lives here."""
