"""The composition root: the one package that imports `app`, `graphql_schema` and `rest_shim` together.

`server.app.create_app` builds the ASGI application, `server.cli` is the `bot-analytics` command.
The layers below never import this package (tests/test_layers.py checks it).
"""
