"""The model files: which ones, checked how, fetched from where, and loaded once per process."""
