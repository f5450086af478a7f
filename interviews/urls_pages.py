"""Built-in HTML pages (the browser interview and the live observer view)."""

urlpatterns: list = []
