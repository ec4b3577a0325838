import Foundation
import Testing
@testable import NetnsAgent
@testable import NetnsClient
@testable import NetnsExposition
@testable import NetnsKernel
import TestKit

@Suite("Parsing untrusted text")
struct ParsingTests {
    @Test("mountinfo: only nsfs mounts of network namespaces, with escapes decoded")
    func mountInfo() {
        let text = """
            22 1 0:21 / /proc rw,nosuid shared:5 - proc proc rw
            610 28 0:4 net:[4026532291] /run/netns/blue rw shared:321 - nsfs nsfs rw
            611 28 0:4 net:[4026532292] /run/netns/with\\040space rw - nsfs nsfs rw
            612 28 0:4 mnt:[4026532293] /run/mntns/x rw - nsfs nsfs rw
            613 28 0:4 net:[4026532294] /tmp/fake rw - tmpfs tmpfs rw
            garbage line
            """
        let mounts = MountInfo.networkNamespaceMounts(in: text)
        #expect(mounts.map(\.mountPoint) == ["/run/netns/blue", "/run/netns/with space"])
        #expect(mounts.map(\.inum) == [4_026_532_291, 4_026_532_292])
    }

    @Test("listen addresses", arguments: [
        ("127.0.0.1:9756", "127.0.0.1", 9756),
        (":8080", "0.0.0.0", 8080),
        ("[::1]:9000", "::1", 9000),
        ("example", "example", 9756),
    ])
    func hostPort(text: String, host: String, port: Int) throws {
        let parsed = try #require(parseHostPort(text, defaultPort: 9756, defaultHost: "0.0.0.0"))
        #expect(parsed.0 == host)
        #expect(parsed.1 == port)
    }

    @Test("bad listen addresses are refused", arguments: ["host:99999", "::1:80", "[::1", "h:abc"])
    func badHostPort(text: String) {
        #expect(parseHostPort(text, defaultPort: 1) == nil)
    }

    @Test("agent URLs must be http")
    func agentURL() throws {
        #expect(throws: AgentClient.Failure.self) { try AgentClient(url: "https://x:1") }
        #expect(try AgentClient(url: "http://127.0.0.1:9756/").baseURL == "http://127.0.0.1:9756")
    }

    /// What the client makes of `response`, served by a server that sends only that.
    static func get(answering response: String) throws -> String {
        let server = try RawResponder(response: response)
        return try AgentClient(url: "http://127.0.0.1:\(server.port)").get("/namespaces")
    }

    @Test("responses: body of a 200, a readable error otherwise")
    func responses() throws {
        #expect(try Self.get(answering: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]") == "[]")
        #expect(try Self.get(answering: "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n[1]") == "[1]")
        let missing = #expect(throws: AgentClient.Failure.self) { try Self.get(answering: "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope") }
        #expect(missing?.description.contains("answered 404: nope") == true, "\(String(describing: missing))")
        #expect(throws: AgentClient.Failure.self) { try Self.get(answering: "garbage") }
        #expect(throws: AgentClient.Failure.self) { try Self.get(answering: "") }
        #expect(throws: AgentClient.Failure.self) { try Self.get(answering: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort") }
    }

    @Test("nothing listening (port 1): says so, and what to run")
    func unreachable() {
        let failure = #expect(throws: AgentClient.Failure.self) { try AgentClient(url: "http://127.0.0.1:1").get("/") }
        #expect(failure?.description.contains("cannot connect to the agent at http://127.0.0.1:1") == true, "\(String(describing: failure))")
    }

    @Test("a chunked body is put back together; extensions and trailers are skipped")
    func chunkedResponses() throws {
        let response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n[\r\n9;ext=1\r\n{\"a\":\"b\"}\r\n1\r\n]\r\n0\r\nTrailer: x\r\n\r\n"
        #expect(try Self.get(answering: response) == "[{\"a\":\"b\"}]")
    }

    @Test("a malformed chunked body is an error, never a crash", arguments: [
        "5\r\nabc\r\n0\r\n\r\n",              // shorter than its size
        "3\r\nabcXY0\r\n\r\n",                 // no CRLF after the data
        "zz\r\nabc\r\n0\r\n\r\n",             // not hex
        "\r\nabc\r\n",                          // no size
        "3\r\nabc\r\n",                         // no last chunk
        "1000000000000000\r\nabc\r\n0\r\n\r\n", // a size of 16 hex digits
        "7fffffffffffffff\r\nabc\r\n0\r\n\r\n",
        "-2\r\nabc\r\n0\r\n\r\n",                // a sign
        "-ffffffffffffff\r\nabc\r\n0\r\n\r\n",
        "+3\r\nabc\r\n0\r\n\r\n",
    ])
    func malformedChunks(body: String) {
        #expect(throws: AgentClient.Failure.self) {
            try Self.get(answering: "HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\n\(body)")
        }
    }

    @Test("durations for people", arguments: [(5.9, "5s"), (125, "2m05s"), (7300, "2h01m"), (270_000, "3d03h")])
    func durations(seconds: Double, text: String) {
        #expect(NamespaceTable.duration(seconds) == text)
    }

    @Test("the list table hides freed namespaces unless asked, and names creators")
    func table() throws {
        let json = """
            [{"cookie":1,"inum":11,"state":"alive","createdAt":null,"discoveredAt":"x","releasedAt":null,"freedAt":null,"ageSeconds":61,"lifetimeSeconds":61,"creator":null,"holder":{"pid":1,"comm":"systemd","cgroupId":0},"refs":{"active":4,"passive":9},"setupResult":null},
             {"cookie":2,"inum":22,"state":"freed","createdAt":"y","discoveredAt":null,"releasedAt":"z","freedAt":"z","ageSeconds":1,"lifetimeSeconds":1,"creator":{"pid":5,"comm":"ip","cgroupId":3},"holder":null,"refs":null,"setupResult":0}]
            """
        let list = try NamespaceSummary.decodeList(json)
        let table = NamespaceTable.render(list)
        #expect(table.contains("(before agent)"))
        #expect(!table.contains("ip[5]"))
        #expect(NamespaceTable.render(list, includeFreed: true).contains("ip[5]"))
        #expect(table.split(separator: "\n").first?.hasPrefix("INUM") == true)
    }

    @Test("effective capabilities are read from the status text")
    func capabilities() {
        let effective = Preflight.effectiveCapabilities(fromStatus: "Name:\ttest\nCapEff:\t0000008000200001\n")
        #expect(effective?.numbers == [0, 21, 39])
        #expect(effective?.names == ["cap_0", "CAP_SYS_ADMIN", "CAP_BPF"])
        #expect(CapabilitySet([.bpf, .sysPtrace]).mask == 1 << 39 | 1 << 19)
        #expect(Preflight.effectiveCapabilities(fromStatus: "Name:\ttest\n") == nil)
    }

    @Test("a seccomp filter is read from the status text: mode 2 only")
    func seccomp() {
        #expect(Preflight.seccompFiltered(status: "Name:\ttest\nSeccomp:\t2\nSeccomp_filters:\t1\n"))
        #expect(!Preflight.seccompFiltered(status: "Name:\ttest\nSeccomp:\t0\nSeccomp_filters:\t0\n"))
        #expect(!Preflight.seccompFiltered(status: "Name:\ttest\n"))
    }
}

@Suite("listns(2) at start-up")
struct ListnsGateTests {
    /// A /proc/self/status with `capabilities` as its CapEff, and user and PID namespace links.
    static func withProcFiles(capabilities: String, user: String = NamespaceID.initialUserNamespace,
                              pid: String = NamespaceID.initialPIDNamespace,
                              _ body: (_ status: String, _ namespaces: String) -> Void) throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "listns-gate-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: "\(directory)/ns", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "Name:\tnetns-tracer\nCapEff:\t\(capabilities)\n".write(toFile: "\(directory)/status", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: "\(directory)/ns/user", withDestinationPath: user)
        try FileManager.default.createSymbolicLink(atPath: "\(directory)/ns/pid", withDestinationPath: pid)
        body("\(directory)/status", "\(directory)/ns")
    }

    @Test("not asked without CAP_SYS_ADMIN in the initial user namespace, nor outside the initial PID namespace: the kernel would list only the agent's own namespace, silently")
    func gated() throws {
        let notPermitted = NamespaceID.Listing.unavailable("listns(2) lists other namespaces only to CAP_SYS_ADMIN in the initial user namespace")
        // CAP_BPF, CAP_PERFMON and CAP_SYS_PTRACE: what the agent keeps.
        try Self.withProcFiles(capabilities: "000000c000080000") { status, namespaces in
            #expect(NamespaceID.listNetworkNamespaces(statusPath: status, namespacesPath: namespaces) == notPermitted)
        }
        try Self.withProcFiles(capabilities: "000001ffffffffff", user: "user:[4026532600]") { status, namespaces in
            #expect(NamespaceID.listNetworkNamespaces(statusPath: status, namespacesPath: namespaces) == notPermitted)
        }
        try Self.withProcFiles(capabilities: "000001ffffffffff", pid: "pid:[4026532500]") { status, namespaces in
            #expect(NamespaceID.listNetworkNamespaces(statusPath: status, namespacesPath: namespaces)
                == .unavailable("listns(2) lists other namespaces only from the initial PID namespace"))
        }
    }
}
