"""Language models: one protocol, several providers, a router with retries, fallbacks and circuit breaking."""
