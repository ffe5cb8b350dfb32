"""Lesson content as data: one Markdown file per lesson, plus the panels they embed."""
