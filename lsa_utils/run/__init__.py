"""Chapters, scales, the chapter executor, results files and the book build."""

from .chapters import CHAPTERS, SCALES, Chapter, get_chapter
from .results import Claim

__all__ = ["CHAPTERS", "SCALES", "Chapter", "Claim", "get_chapter"]
