"""Live play: camera in, events out to a page.

``camera`` reads frames, ``stream`` classifies each one from a ring buffer, ``runtime`` runs the model (LiteRT or
Keras), ``server`` and ``site`` serve the page and its WebSocket, ``game`` ties them into ``actionrec live``,
``replay`` runs the same loop on a file, ``export``/``exported`` write and check the fast LiteRT copy, and
``record`` captures labelled takes of the user.
"""
