"""Reports of answers ("Report this answer") and the administrators' Review queue (README, "Reports and review")."""
