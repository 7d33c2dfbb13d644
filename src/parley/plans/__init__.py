"""Plans as the database keeps them: seeded from the plan file at start-up, edited by admins (issue 11)."""
