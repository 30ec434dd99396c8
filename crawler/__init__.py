"""linkhealth: check every URL of a front-matter site, record the history in SQLite."""
