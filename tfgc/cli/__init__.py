"""`python -m tfgc`: compress, decompress, info, evaluate, demo."""
