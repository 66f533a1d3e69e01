"""The embedder: images in, vectors out, and the model registry."""
