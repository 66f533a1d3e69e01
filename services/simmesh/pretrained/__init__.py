"""Pretrained networks that pinned wheels ship, shared by the embedder's built-in models and the catalog's trainer."""
