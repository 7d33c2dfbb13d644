"""The OpenAI-compatible surface (`/v1`): any OpenAI SDK can use Parley's models with a Parley API key."""
