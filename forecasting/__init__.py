"""The forecasting core: pure (no HTTP, no SQL); training and serving both call it."""

import os

# LightGBM's OpenMP threads spin while they wait for each other. On a machine whose cores are
# shared (a service host, CI), a descheduled thread makes the others spin for nothing: passive
# waiting made a VISUELLE fit 5x faster under load (88 s -> 18 s) and changes no result. Set
# before LightGBM loads its OpenMP runtime, unless the operator chose otherwise.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
