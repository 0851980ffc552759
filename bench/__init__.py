"""Benchmarks of bot-analytics (issues 2 and 3): `python -m bench [ingest|queries|reports]`.

Every benchmark runs the service as a real uvicorn subprocess on a free 127.0.0.1 port, against a
fresh SQLite database under a temporary directory, and prints medians, ratios and the server's
peak RSS. Results under `bench/out/` (git-ignored): the cached bulk-loaded database, profiles and
`query_results.md`.
"""
