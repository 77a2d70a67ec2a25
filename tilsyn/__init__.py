"""tilsyn: registry of customers and electrical installations for Norwegian DLE."""

__version__ = "0.1.0"
