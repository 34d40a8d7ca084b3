-- SPDX-License-Identifier: MIT
-- bench/callbacks.d/wrk.lua - the wrk script of bench/callbacks.
--
--   wrk ... -s wrk.lua URL -- FILE THREADS    POST one pre-built request per
--                                              request, from FILE
--   wrk ... -s wrk.lua URL                    plain GET of URL (static)
--
-- FILE has one request a line, "PATH<TAB>FORM-BODY".  Thread k of THREADS
-- (THREADS must equal wrk's -t) takes lines k, k + THREADS, ... so no two
-- threads send the same body; each thread formats all of its requests in
-- init(), and request() only hands the next one out.  A thread that runs out
-- starts over and counts a wrap (bench/callbacks sizes FILE so it should not).
-- No response() is defined: wrk then skips parsing headers and bodies, so the
-- client costs the same for every server.
--
-- done() prints one line "BENCH_JSON {...}" with wrk's summary, latency
-- percentiles (microseconds) and, for POST, how many requests were handed
-- out (sent or in flight when the run stopped) and how many wraps.

local threads = {}
local nthread = 0

function setup(thread)
	thread:set("tid", nthread)
	nthread = nthread + 1
	table.insert(threads, thread)
end

function init(args)
	sent = 0
	wraps = 0
	loaded = 0
	if args[1] == nil then
		request = nil -- static GET: wrk sends the same request with no Lua call
		return
	end
	local stride = tonumber(args[2])
	local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
	local i = 0
	reqs = {}
	for line in io.lines(args[1]) do
		if i % stride == tid then
			local tab = line:find("\t", 1, true)
			reqs[#reqs + 1] = wrk.format("POST", line:sub(1, tab - 1), headers, line:sub(tab + 1))
		end
		i = i + 1
	end
	loaded = #reqs
	idx = 0
	if loaded == 0 then
		error("no requests for thread " .. tid .. " in " .. args[1])
	end
end

function request()
	idx = idx + 1
	if idx > loaded then
		idx = 1
		wraps = wraps + 1
	end
	sent = sent + 1
	return reqs[idx]
end

function done(summary, latency, requests)
	local s, w, l = 0, 0, 0
	for _, t in ipairs(threads) do
		s = s + (t:get("sent") or 0)
		w = w + (t:get("wraps") or 0)
		l = l + (t:get("loaded") or 0)
	end
	local e = summary.errors
	io.write(string.format(
		'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"sent":%d,"wraps":%d,' ..
		'"loaded":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,' ..
		'"status_errors":%d,"timeouts":%d,"lat_mean_us":%.1f,"lat_max_us":%d,' ..
		'"lat_p50_us":%d,"lat_p90_us":%d,"lat_p99_us":%d,"lat_p999_us":%d}\n',
		summary.requests, summary.duration, summary.bytes, s, w, l,
		e.connect, e.read, e.write, e.status, e.timeout, latency.mean, latency.max,
		latency:percentile(50), latency:percentile(90), latency:percentile(99),
		latency:percentile(99.9)))
end
