"""The Anthropic-compatible surface: `POST /v1/messages` and `/v1/messages/count_tokens`, a thin adapter over
the same routing, limits and usage as the OpenAI-compatible `/v1/chat/completions` (`openai_api`)."""
