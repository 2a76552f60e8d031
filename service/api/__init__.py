"""HTTP layer: routers per resource, schemas, dependencies."""
