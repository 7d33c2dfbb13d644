"""GDPR and retention (issue 14): users' data exports (Art. 20), account erasure (Art. 17) with a pseudonymous
tombstone, and retention policies from plans and groups, suspended by a legal hold."""
