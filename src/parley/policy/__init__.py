"""Policy: decides whether a request may go ahead (rate limits, quotas, plans) and returns a decision.

Nothing here answers a request: the caller enforces the decision (`rates.Decision.enforce`), so each route
chooses where the check sits and what the refusal says.
"""
