"""Learning cyclic SCMs from interventional data, and robust intervention design."""
