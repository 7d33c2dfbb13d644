"""Prometheus metrics (issue 13): `instruments` holds every metric (services call them), `http` the request
middleware, `exposition` the /metrics endpoint, `collectors` the gauges read from state, `multiprocess` the
set-up for `parley serve --workers N`, `runtime` the app's wiring. README, "Metrics"."""
