-- wrk script for the acquire-poll legs of benches/scale.rs: every request POSTs the
-- same acquire body (given in the environment as WRK_BODY), as a run polling its lease.
--
-- With WRK_PROVIDERS=n (n > 1) the requests go round n providers instead of the URL's
-- path: `/bench/poll-<i>/main/acquire`, i = 0..n-1 (auto-registration creates them on the
-- first call; the same run then polls each of them), to load many providers at once.
wrk.method = "POST"
wrk.body = os.getenv("WRK_BODY")
wrk.headers["Content-Type"] = "application/json"

local providers = tonumber(os.getenv("WRK_PROVIDERS") or "1") or 1
local next_provider = 0

if providers > 1 then
  request = function()
    local path = "/bench/poll-" .. next_provider .. "/main/acquire"
    next_provider = (next_provider + 1) % providers
    return wrk.format(nil, path)
  end
end
