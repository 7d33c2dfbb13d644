"""Settings of reports of answers (`PARLEY_REPORTS__…`; README, "Reports and review")."""

from __future__ import annotations

from pydantic import BaseModel


class ReportSettings(BaseModel):
    """What reviewers see of a reported answer."""

    # Reporting an answer is its user's consent to show reviewers that one exchange (the question and the answer),
    # never the rest of the conversation. False: reviewers see the reason, the user's text and the model only.
    show_exchange: bool = True
