"""Database layer: typed models, engine and sessions, repositories."""
