"""Self-supervised denoising of two-photon movies (DeepCAD-RT)."""
