"""``actionrec record``: capture labelled takes of yourself into a dataset."""
