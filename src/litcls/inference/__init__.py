"""A trained checkpoint put to use: predictions on new images and exports that run without this package."""
