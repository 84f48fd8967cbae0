"""Model files: the registry of pinned files (``registry``) and their verified download (``fetch``).
Weights are never fetched at run time; workers only load from the models folder."""
