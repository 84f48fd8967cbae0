"""swapbot's composition root: configuration, logging and the ``swapbot`` command line."""
