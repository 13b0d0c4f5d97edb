"""Synthetic fighters: an articulated 3-D figure, keyframed moves, scenes, and labelled videos of them."""
