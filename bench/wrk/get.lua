-- GET the URL given to wrk, as fast as the connections allow.
done = require("report").done
