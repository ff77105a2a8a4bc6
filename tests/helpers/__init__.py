"""Code the test layers share: dataclasses, constants and helpers. Fixtures stay in the conftest files.

    stack.py       Stack: where the session's Temporal and Redis listen
    polling.py     eventually: poll an async probe until it answers
    http.py        the API's paths, wait_ready (a process's HTTP readiness), request/answer helpers
    gateway.py     Gateway, its credentials and environment (gateway_env, rs256_token)
    identity.py    an identity provider: signing keys, a JWKS server on loopback, forged tokens
    worker.py      RunningWorker: an in-process worker on its own task queue
    in_process.py  serve: the real app under TestClient, driven by an async httpx client
    receiver.py    serve_receiver: a real webhook receiver; start_approval / resume_url catch a resume URL
    browser.py     chromium: Debian's Chromium under Playwright, for the pages people see
    otlp.py        serve_collector: an OTLP/HTTP trace collector on loopback, and the spans it got
    dashboard.py   the metric names docs/grafana-dashboard.json queries
"""
