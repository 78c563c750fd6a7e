-- wrk script for the acquire-poll legs of benches/scale.rs: every request POSTs the
-- same acquire body (given in the environment as WRK_BODY), as a run polling its lease.
wrk.method = "POST"
wrk.body = os.getenv("WRK_BODY")
wrk.headers["Content-Type"] = "application/json"
