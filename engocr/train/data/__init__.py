"""Training data: one internal form (records), importers of real formats, a synthetic generator."""
