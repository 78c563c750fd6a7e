"""schemathesis hooks for .ci/schemathesis.sh.

`POST .../acquire?wait=N` may hold a `pending` answer for up to 120 s (a paused queue, a
holder that is still alive). Every such wait is valid input, so only its length is cut
here, to at most 2 s, to keep the run short; the server's own cap is tested in tests/api.
"""

import schemathesis

MAX_WAIT = 2


def _whole(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


@schemathesis.hook
def map_case(context, case):
    query = case.query
    if case.path.endswith("/acquire") and isinstance(query, dict) and "wait" in query:
        seconds = _whole(query["wait"])
        if seconds is not None and seconds > MAX_WAIT:
            query["wait"] = MAX_WAIT
    return case
