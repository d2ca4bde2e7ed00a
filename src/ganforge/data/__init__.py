"""Data sources. Toy 2-D distributions live in :mod:`ganforge.data.toy2d`."""
