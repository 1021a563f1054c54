"""Building, freezing and optimising models; masked-LM domain adaptation."""
