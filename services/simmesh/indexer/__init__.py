"""The indexer: collections of records on sharded FAISS (router and shards)."""
