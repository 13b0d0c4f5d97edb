"""From per-frame probabilities to game events (``trigger``), and how well events match annotations (``scoring``)."""
