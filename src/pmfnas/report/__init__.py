"""Numbers and figures about searches and proxies, for people (tables, plots, reports)."""
