"""Re-exports `compile_filter` from `query` for the router, which imports it from here."""

from simmesh.indexer.query import compile_filter

__all__ = ["compile_filter"]
