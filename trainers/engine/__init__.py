"""The training loop of one run: engine (precision, accumulation, DDP, clipping, steps), the saved
training state, checkpoints, evaluation reporting and early stopping, faults; loop ties them together."""
