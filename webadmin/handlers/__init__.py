"""Request handlers, one module per area."""
