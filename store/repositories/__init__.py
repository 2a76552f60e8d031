"""Repositories: the SQL for each use case, set-based where it writes in bulk."""
