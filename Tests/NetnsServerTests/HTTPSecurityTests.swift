import Foundation
import Testing
@testable import NetnsServer
import NetnsExposition
@testable import NetnsClient
import TestKit

/// Certificates made by the openssl command (scripts/setup installs it) in a directory of their
/// own: a CA, a server certificate for 127.0.0.1 signed by it, and a client certificate.
final class TestPKI {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appending(path: "netns-pki-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try issue(ca: "ca")
        try issue(certificate: "server", ca: "ca", extensions: "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth")
        try issue(certificate: "client", ca: "ca", extensions: "extendedKeyUsage=clientAuth")
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    func path(_ name: String) -> String { directory.appending(path: name).path }

    func issue(ca name: String) throws {
        _ = try Subprocess.output(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                   "-nodes", "-keyout", "\(name).key", "-out", "\(name).crt", "-subj", "/CN=netns-tracer test \(name)",
                                   "-days", "2"], in: directory)
    }

    func issue(certificate name: String, ca: String, extensions: String) throws {
        try extensions.write(toFile: path("\(name).ext"), atomically: true, encoding: .utf8)
        _ = try Subprocess.output(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                                   "-keyout", "\(name).key", "-out", "\(name).csr", "-subj", "/CN=\(name)"], in: directory)
        _ = try Subprocess.output(["openssl", "x509", "-req", "-in", "\(name).csr", "-CA", "\(ca).crt", "-CAkey", "\(ca).key",
                                   "-CAcreateserial", "-out", "\(name).crt", "-days", "2", "-extfile", "\(name).ext"], in: directory)
    }

    func write(config: String) throws -> String {
        let file = path("web.yml")
        try config.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }
}

@Suite("HTTP exporter with TLS and basic authentication", .serialized)
struct HTTPSecurityTests {
    static let password = "correct horse"
    /// htpasswd -nbB -C 5 prometheus 'correct horse'
    static let hash = "$2y$05$T0glteW//YKybn7.Webbv.2StZnEi1o8qia.D.hG79TPDi1W/lyra"

    /// curl's status code for a GET (000 when no HTTP response came), and the headers.
    private func curl(_ url: String, _ options: [String] = []) throws -> (code: String, headers: String, body: String) {
        let result = try Command.run(["curl", "-sS", "--max-time", "10", "-D", "-", "-w", "\n%{http_code}"] + options + [url])
        let lines = result.output.split(separator: "\n", omittingEmptySubsequences: false)
        let text = lines.dropLast().joined(separator: "\n")
        return (String(lines.last ?? ""), text, String(text.split(separator: "\r\n\r\n", maxSplits: 1).last ?? ""))
    }

    @Test("the hash in these tests is one htpasswd made")
    func fixture() {
        #expect(BasicAuthenticator.matches(Self.password, hash: Self.hash))
    }

    @Test("TLS with basic auth: the right user gets the metrics; no, wrong or unknown credentials get 401; plain HTTP and old TLS get no answer")
    func tlsAndBasicAuth() async throws {
        let pki = try TestPKI()
        let security = try WebSecurity(path: try pki.write(config: """
            tls_server_config:
              cert_file: server.crt
              key_file: server.key
              min_version: TLS13
            http_server_config:
              headers:
                Strict-Transport-Security: max-age=31536000
            basic_auth_users:
              prometheus: \(Self.hash)
            """))
        let statistics = HTTPExporter.Statistics()
        try await withExporter(statistics: statistics, security: security) { port in
            let url = "https://127.0.0.1:\(port)/metrics"
            let trusted = ["--cacert", pki.path("ca.crt")]
            let good = try curl(url, trusted + ["-u", "prometheus:\(Self.password)"])
            #expect(good.code == "200")
            #expect(good.body == "up 1\n")
            #expect(good.headers.contains("Strict-Transport-Security: max-age=31536000"))
            // Again, from the remembered verification.
            #expect(try curl(url, trusted + ["-u", "prometheus:\(Self.password)"]).code == "200")

            let none = try curl(url, trusted)
            #expect(none.code == "401")
            #expect(none.headers.contains("WWW-Authenticate: Basic realm=\"netns-tracer\""))
            #expect(try curl(url, trusted + ["-u", "prometheus:wrong"]).code == "401")
            #expect(try curl(url, trusted + ["-u", "mallory:\(Self.password)"]).code == "401")
            #expect(try curl("https://127.0.0.1:\(port)/elsewhere", trusted).code == "401", "every path is behind the password")
            #expect(statistics.unauthorized.load(ordering: .relaxed) == 4)

            #expect(try curl("http://127.0.0.1:\(port)/metrics").code == "000", "plain HTTP gets no answer")
            #expect(try curl(url, trusted + ["--tls-max", "1.2"]).code == "000", "TLS 1.2 is below min_version")
            #expect(try curl(url).code == "000", "an untrusted server certificate is refused by curl")
            #expect(statistics.tlsHandshakes.load(ordering: .relaxed) >= 2)
        }
    }

    @Test("RequireAndVerifyClientCert: only a client with a certificate from client_ca_file is served")
    func clientCertificates() async throws {
        let pki = try TestPKI()
        try pki.issue(ca: "other-ca")
        try pki.issue(certificate: "stranger", ca: "other-ca", extensions: "extendedKeyUsage=clientAuth")
        let security = try WebSecurity(path: try pki.write(config: """
            tls_server_config:
              cert_file: server.crt
              key_file: server.key
              client_auth_type: RequireAndVerifyClientCert
              client_ca_file: ca.crt
            """))
        try await withExporter(security: security) { port async throws in
            let url = "https://127.0.0.1:\(port)/metrics"
            let trusted = ["--cacert", pki.path("ca.crt")]
            #expect(try curl(url, trusted + ["--cert", pki.path("client.crt"), "--key", pki.path("client.key")]).code == "200")
            #expect(try curl(url, trusted).code == "000", "no client certificate")
            #expect(try curl(url, trusted + ["--cert", pki.path("stranger.crt"), "--key", pki.path("stranger.key")]).code == "000",
                    "a client certificate from another CA")
        }
    }

    @Test("a rotated certificate is served without a restart; a broken edit is counted and the last good configuration stays")
    func reload() async throws {
        let pki = try TestPKI()
        let file = try pki.write(config: "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n")
        let security = try WebSecurity(path: file)
        try await withExporter(security: security) { port async throws in
            let url = "https://127.0.0.1:\(port)/metrics"
            #expect(try curl(url, ["--cacert", pki.path("ca.crt")]).code == "200")

            // cert-manager's way: a new CA and certificate written over the old files.
            try pki.issue(ca: "ca2")
            try pki.issue(certificate: "server", ca: "ca2", extensions: "subjectAltName=IP:127.0.0.1")
            try await Task.sleep(for: .milliseconds(1100))
            #expect(try curl(url, ["--cacert", pki.path("ca2.crt")]).code == "200", "the new certificate is served")
            #expect(try curl(url, ["--cacert", pki.path("ca.crt")]).code == "000", "the old one is not")
            #expect(security.reloads.load(ordering: .relaxed) >= 1)

            try "tls_server_config:\n  cert_file: server.crt\n  key_fil: server.key\n".write(toFile: file, atomically: true, encoding: .utf8)
            try await Task.sleep(for: .milliseconds(1100))
            #expect(try curl(url, ["--cacert", pki.path("ca2.crt")]).code == "200", "still served with the last good configuration")
            #expect(security.reloadFailures.load(ordering: .relaxed) == 1)
            #expect(try curl(url, ["--cacert", pki.path("ca2.crt")]).code == "200")
            #expect(security.reloadFailures.load(ordering: .relaxed) == 1, "a bad edit is counted once")
        }
    }

    @Test("files that cannot serve TLS are refused at start with the file named", arguments: [
        ("cert_file: missing.crt\n  key_file: server.key", "cannot use cert_file"),
        ("cert_file: server.key\n  key_file: server.key", "cannot use cert_file"),
        ("cert_file: server.crt\n  key_file: server.crt", "cannot use key_file"),
        ("cert_file: server.crt\n  key_file: client.key", "the certificate and key"),
        ("cert_file: server.crt\n  key_file: server.key\n  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: nowhere.crt",
         "cannot use client_ca_file"),
    ])
    func badFiles(tls: String, expected: String) throws {
        let pki = try TestPKI()
        let file = try pki.write(config: "tls_server_config:\n  \(tls)\n")
        #expect {
            try WebSecurity(path: file)
        } throws: { error in
            let text = "\(error)"
            return text.contains(expected) && text.contains(file)
        }
    }

    @Test("a missing or oversized web-config file is refused with the reason")
    func badConfigFile() throws {
        #expect {
            try WebSecurity(path: "/nonexistent/web.yml")
        } throws: { error in
            "\(error)".contains("/nonexistent/web.yml") && "\(error)".contains("No such file or directory")
        }
        let pki = try TestPKI()
        let file = try pki.write(config: "# " + String(repeating: "x", count: 2 << 20))
        #expect(throws: WebConfigError.self) { try WebSecurity(path: file) }
    }
}
