-- bench/sim_logjob.lua — wrk script for bench/sim_logjob.sh: each job is what
-- a bitmon worker does for a finished build: GET the build, GET its /log,
-- GET the expiring_raw_log_url. The answers drive the next request (a queue
-- shared by the thread's connections); args: JOBS_FILE TOKEN, JOBS_FILE with
-- one "app build" per line.
local jobs, app_of, queue, next_job = {}, {}, {}, 1

function init(args)
        for line in io.lines(args[1]) do
                local app, build = line:match("(%S+) (%S+)")
                jobs[#jobs + 1] = {app, build}
                app_of[build] = app
        end
        wrk.headers["Authorization"] = args[2]
end

function request()
        local r = table.remove(queue, 1)
        if r then
                return r
        end
        local j = jobs[next_job]
        next_job = next_job % #jobs + 1
        return wrk.format("GET", "/v0.1/apps/" .. j[1] .. "/builds/" .. j[2])
end

function response(status, headers, body)
        if status ~= 200 then
                return
        end
        if body:sub(1, 8) == '{"data":' then
                local build = body:match('"slug":"(%x+)"')
                if build and app_of[build] then
                        queue[#queue + 1] = wrk.format("GET", "/v0.1/apps/" ..
                            app_of[build] .. "/builds/" .. build .. "/log")
                end
                return
        end
        local url = body:match('"expiring_raw_log_url":"([^"]+)"')
        if url then
                queue[#queue + 1] = wrk.format("GET", url:match("^https?://[^/]+(/.*)$"))
        end
end
