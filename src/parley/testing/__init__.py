"""Stand-ins for the outside world, for tests and benchmarks: `mock_llm` is an OpenAI-compatible upstream."""
