"""Interview reports: what an interview found, made in the background when it completes.

``schema``: the document's one JSON Schema. ``scripted``: the offline builder. ``llm``: the
model's report (falls back to the scripted one). ``services``: request, generate (the task's
body), regenerate. ``selectors``: the current report. ``text``: the report as sections for
people (admin page, PDF, DOCX). docs/api.md, "Interview reports".
"""
