-- Every request carries a session cookie never sent before:
-- Cookie: sid=<tag>-<thread>-<n>.  wrk ... -s distinct.lua -- <tag>
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local tag, tid, n = "m", 0, 0
function init(args)
  tag = args[1] or tag
  tid = wrk.thread:get("tid")
end

function request()
  n = n + 1
  return wrk.format(nil, nil, { Cookie = "sid=" .. tag .. "-" .. tid .. "-" .. n })
end
