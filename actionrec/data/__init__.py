"""Data in: video files and frame folders, labelled datasets, and their augmentation."""
