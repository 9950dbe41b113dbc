"""Request handlers: parse, call one desk function, shape the answer."""
