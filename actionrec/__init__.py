r"""actionrec: recognize fighting moves in video and play MK.js with them.

Pipeline, one module per stage, data flowing one way:

    video -> frames -> augment -> embed -> windows -> models -> evaluate
                                                           +-> stream -> bridge (the game)
"""

__version__ = "0.1.0"
