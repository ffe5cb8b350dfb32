"""Lesson content as data: one Markdown file per lesson, plus the panels they embed."""

from pathlib import Path

LESSONS_DIR = Path(__file__).parent
