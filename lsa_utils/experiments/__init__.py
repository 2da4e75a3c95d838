"""One module per chapter: the experiment functions a chapter's notebook calls."""
