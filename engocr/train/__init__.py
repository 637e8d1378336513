"""Training side of engocr: data, models' training loops and evaluation (`train` extra)."""
