"""The training job: read the catalogue, backtest by launch date, refit, publish a model version."""
