"""httpx for the tests' own servers (simulators, the review page, moto), which listen on loopback
and speak plain HTTP. httpx's one-shot functions and clients built without ``verify`` first load
certifi's whole bundle into a TLS context, about 60 ms of CPU each time, for connections that
never use it: hundreds of times a run."""

from __future__ import annotations

from functools import partial

import httpx

get = partial(httpx.get, verify=False)
post = partial(httpx.post, verify=False)
stream = partial(httpx.stream, verify=False)
Client = partial(httpx.Client, verify=False)
AsyncClient = partial(httpx.AsyncClient, verify=False)
