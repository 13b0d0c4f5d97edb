"""Per-frame features: MobileNet embeddings (``mobilenet``) and their per-clip cache (``cache``)."""
