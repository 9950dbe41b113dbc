"""Jinja2 templates for outgoing mail (<name>.txt.j2 and <name>.html.j2 for each)."""
