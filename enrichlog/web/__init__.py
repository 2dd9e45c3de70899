"""The console (`enrichlog web`): the roots table and a root's timeline as HTML pages, and the JSON API
they are made from, over the read side (enrichlog.read) with the reader role.

`app.create_app` builds the ASGI app; `settings` holds what it is configured with (the credential),
`access` the check of it, `params` the checks every query parameter passes, `bars` the geometry of
the timeline's bars.
"""
