"""skip-explorer: one residual CNN, many accuracy/latency trade-offs chosen at run time."""

__version__ = "0.1.0"
