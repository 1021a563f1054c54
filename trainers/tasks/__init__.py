"""One module per task: how it loads, prepares, builds, computes the loss and evaluates."""
