"""Command palette provider: open any lesson by typing part of its title or slug."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


class LessonCommands(Provider):
    def lesson_entries(self):
        for lesson in self.app.catalog:
            yield f"Lesson {lesson.order}: {lesson.title}", lesson

    async def discover(self) -> Hits:
        for text, lesson in self.lesson_entries():
            yield DiscoveryHit(text, partial(self.app.open_lesson, lesson.slug), help=lesson.promise)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, lesson in self.lesson_entries():
            score = max(matcher.match(text), matcher.match(lesson.slug))
            if score > 0:
                yield Hit(score, matcher.highlight(text), partial(self.app.open_lesson, lesson.slug),
                          text=text, help=lesson.promise)
