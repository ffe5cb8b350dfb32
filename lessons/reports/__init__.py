"""What `qlora-tutor show` prints in place of each panel: rich renderables, no Textual.

`lessons/reports/<name>.py` holds the reports of `lessons/panels/<name>.py` in a dict
`REPORTS` (panel class name -> function of no arguments), together with the tables, numbers
and plots the panel draws too; the panel imports them from here. `show` finds a report with
`tutor.engine.lessons.resolve_report` from the panel line of the lesson, so printing a lesson
never imports a panel module, nor Textual.
"""
