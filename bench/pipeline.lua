-- HTTP/1.1 pipelining for wrk: every write carries DEPTH requests back to back.
-- Usage: wrk ... -s bench/pipeline.lua URL -- DEPTH   (DEPTH defaults to 16)
-- wrk counts each response, so req/s stays comparable with unpipelined runs.

local batch

function init(args)
    local depth = tonumber(args[1]) or 16
    local one = wrk.format()
    batch = string.rep(one, depth)
end

function request()
    return batch
end
