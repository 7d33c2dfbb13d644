"""Provider adapters: each turns a ChatRequest into a stream of ChatEvents for one kind of upstream."""
