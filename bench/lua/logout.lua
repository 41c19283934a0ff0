-- API logouts, each for a session token never used before:
-- DELETE /self-service/logout/api {"session_token": "<tag>-<thread>-<n>"}.
-- wrk ... -s logout.lua -- <tag>
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local tag, tid, n = "bench", 0, 0
function init(args)
  tag = args[1] or tag
  tid = wrk.thread:get("tid")
end

local headers = { ["Content-Type"] = "application/json" }
function request()
  n = n + 1
  return wrk.format("DELETE", "/self-service/logout/api", headers,
    '{"session_token":"' .. tag .. "-" .. tid .. "-" .. n .. '"}')
end
