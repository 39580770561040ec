/** Forwarding headers: RFC 7239 parsing and the trust list (the end-to-end cases are in tests/e2e/proxy-headers.test.ts). */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compileTrust, parseForwarded } from "../../src/orchestrator/http/proxy-headers.js";

describe("Forwarded (RFC 7239)", () => {
  it("one hop per element, quoted values unquoted, IPv6 in brackets with its port, names in any case", () => {
    assert.deepEqual(parseForwarded('for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711";Host="a.example"'), [
      { for: "192.0.2.60", port: 0, proto: "http", host: undefined },
      { for: "2001:db8:cafe::17", port: 4711, proto: undefined, host: "a.example" },
    ]);
  });

  it("commas and semicolons inside quotes do not split; repeated headers are one list", () => {
    assert.deepEqual(parseForwarded(['for="_a,b;c"', "for=198.51.100.7:80"]), [
      { for: "_a,b;c", port: 0, proto: undefined, host: undefined },
      { for: "198.51.100.7", port: 80, proto: undefined, host: undefined },
    ]);
  });

  it("an element without for= is a hop whose sender is unknown; empty elements are skipped", () => {
    assert.deepEqual(parseForwarded("proto=https, ,"), [{ for: "unknown", port: 0, proto: "https", host: undefined }]);
  });
});

describe("--forwarded-allow-ips", () => {
  it("addresses and CIDR ranges, IPv4-mapped peers matched as IPv4, names never trusted", () => {
    const trust = compileTrust("127.0.0.1, 10.0.0.0/8, 2001:db8::/32");
    assert.equal(trust("127.0.0.1", 0), true);
    assert.equal(trust("::ffff:127.0.0.1", 0), true);
    assert.equal(trust("10.200.3.4", 1), true);
    assert.equal(trust("2001:db8::1", 1), true);
    assert.equal(trust("192.168.0.1", 0), false);
    assert.equal(trust("unknown", 1), false);
  });

  it("* trusts any peer, an empty list none; a bad entry is named", () => {
    assert.equal(compileTrust("*")("198.51.100.1", 0), true);
    assert.equal(compileTrust("")("127.0.0.1", 0), false);
    assert.throws(() => compileTrust("10.0.0.0/8,proxy.local"), /invalid IP address: proxy\.local/);
    assert.throws(() => compileTrust("10.0.0.0/33"), /invalid range on address/);
  });
});
