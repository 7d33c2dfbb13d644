"""Privacy: finding personal data (PII) in text, and masking or pseudonymising it.

Pure functions over text plus the models they need (README, "PII"). The chat engine calls them at two points
only: before the provider (`Redactor.protect`) and on the output stream (`StreamRestorer`); log lines and the
audit/usage records go through `logmask.mask` (regular expressions with checksums, no model). Which mode applies
is `parley.policy.privacy`'s decision. Nothing heavy is imported here: presidio and spaCy load on first use.
"""
