/** --bind, --fd and --uds-mode values, as gunicorn users write them (listening itself: tests/e2e/listen.test.ts). */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { listenSpecs, parseBind, parseFd, parseMode } from "../../src/orchestrator/http/listeners.js";

describe("--bind", () => {
  it("HOST:PORT, [IPv6]:PORT, a bare host with --port, unix:PATH and fd://N", () => {
    assert.deepEqual(parseBind("0.0.0.0:8080", 8000), { kind: "tcp", host: "0.0.0.0", port: 8080 });
    assert.deepEqual(parseBind("[::1]:9000", 8000), { kind: "tcp", host: "::1", port: 9000 });
    assert.deepEqual(parseBind("[::]", 8000), { kind: "tcp", host: "::", port: 8000 });
    assert.deepEqual(parseBind("localhost", 8000), { kind: "tcp", host: "localhost", port: 8000 });
    assert.deepEqual(parseBind("unix:/run/app.sock", 8000), { kind: "unix", path: "/run/app.sock" });
    assert.deepEqual(parseBind("unix:///run/app.sock", 8000), { kind: "unix", path: "/run/app.sock" });
    assert.deepEqual(parseBind("fd://3", 8000), { kind: "fd", fd: 3 });
  });

  it("says what is wrong with a value it cannot use", () => {
    assert.throws(() => parseBind("::1:8000", 8000), /write an IPv6 address in brackets/);
    assert.throws(() => parseBind(":8000", 8000), /give a host, e\.g\. 0\.0\.0\.0:8000/);
    assert.throws(() => parseBind("0.0.0.0:http", 8000), /the port must be a number from 0 to 65535/);
    assert.throws(() => parseBind("0.0.0.0:70000", 8000), /the port must be a number/);
    assert.throws(() => parseBind("unix:", 8000), /needs a socket path/);
    assert.throws(() => parseFd("2"), /3 or more/);
    assert.throws(() => parseMode("rw-rw----"), /an octal file mode/);
    assert.equal(parseMode("0o660"), 0o660);
    assert.equal(parseMode("0660"), 0o660);
  });

  it("--bind, --uds and --fd together are all listeners; with none of them, --host and --port", () => {
    assert.deepEqual(listenSpecs({ host: "127.0.0.1", port: 8000, bind: [] }), [{ kind: "tcp", host: "127.0.0.1", port: 8000 }]);
    assert.deepEqual(listenSpecs({ host: "127.0.0.1", port: 8000, bind: ["0.0.0.0:80"], uds: "/tmp/a.sock", fd: 3 }), [
      { kind: "tcp", host: "0.0.0.0", port: 80 },
      { kind: "unix", path: "/tmp/a.sock" },
      { kind: "fd", fd: 3 },
    ]);
  });
});
