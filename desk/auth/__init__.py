"""Who is asking and what they may see: passwords, tokens and the access rules."""
