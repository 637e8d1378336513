"""The training-side commands (train, data, eval, export), gathered here so that `train/`
and `export/` offer no command and import nothing of each other for one."""
