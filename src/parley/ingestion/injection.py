"""Does a piece of a document read like instructions to the model rather than content?

A flagged chunk is still retrieved and cited; the prompt builder fences it as quoted data and tells the model
not to follow it. Documents are checked with the known phrases and chat-template markers of
`parley.safety.phrases` (microseconds per chunk, no false positive on the benign sets of bench/injection_quality.py);
the learned classifier of `parley.safety.injection` is not applied to chunks yet: its false-positive rate on
ordinary documents (a few per cent on manual pages) is acceptable for a flag on a chat message, not yet measured
against the cost of fencing retrieved passages.
"""

from __future__ import annotations

from parley.safety.phrases import looks_like_instructions

__all__ = ["looks_like_instructions"]
