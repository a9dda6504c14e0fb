"""Observability: OpenTelemetry GenAI spans, metrics (OTLP and Prometheus), the request's cost
and usage, and the access log.

The parts: ``config`` (the ``OTEL_*`` settings), ``names`` (semantic-convention names),
``meters`` and ``prometheus`` (metric instruments and their exposition), ``core`` (the
``Telemetry`` object ``create_app`` builds), ``request`` and ``attempt`` (what one request and
one upstream attempt record), ``middleware`` (the SERVER span), ``content`` (opt-in prompt and
completion capture) and ``usage`` (usage sums in the store). This package's ``__init__`` imports
nothing, so reading settings stays fast.
"""
