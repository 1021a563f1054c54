"""The training loop: precision, accumulation, clipping, the saved training state."""
