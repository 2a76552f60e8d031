"""The launchcast web service: HTTP layer, database layer and settings."""
