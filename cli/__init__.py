"""The `launchcast` command line: one front door to the service, the training job and the data."""
