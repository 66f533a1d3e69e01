"""Image handling shared by every service: sources, decoding, preprocessing and manifests."""
