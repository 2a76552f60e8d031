"""The store: settings, database models, sessions, repositories, model registry, ingestion.

Imports run one way: forecasting (pure) <- store <- {training, service, cli}.
"""
