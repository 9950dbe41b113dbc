"""The asyncio daemon: mail in, mail out, background work, and the `postdesk` command."""
