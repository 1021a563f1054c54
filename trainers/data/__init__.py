"""Loading, cleaning, imbalance handling and augmentation of the rows a trial trains on."""
