"""``actionrec bench``: every stage timed, figures printed (medians after warm-up). Never used by tests' assertions."""
