-- POST /add with a small JSON body, as fast as the connections allow.
wrk.method = "POST"
wrk.path = "/add"
wrk.body = '{"x":2,"y":3}'
wrk.headers["Content-Type"] = "application/json"
done = require("report").done
