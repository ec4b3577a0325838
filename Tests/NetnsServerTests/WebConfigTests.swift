import NIOHTTP1
import Testing
@testable import NetnsServer
import NetnsExposition
@testable import NetnsClient
import TestKit

@Suite("--web.config.file")
struct WebConfigTests {
    @Test("the exporter toolkit's keys are read; relative paths are taken from the file's directory")
    func parse() throws {
        let config = try WebConfig.parse("""
            # as for node_exporter
            tls_server_config:
              cert_file: server.crt
              key_file: /etc/keys/server.key
              client_auth_type: RequireAndVerifyClientCert
              client_ca_file: "ca.crt"
              min_version: TLS13
            http_server_config:
              http2: false
              headers:
                Strict-Transport-Security: max-age=31536000
            basic_auth_users:
              prometheus: $2y$05$mKZ3.dnpfo2UMF11knlSreP.ZVzT6qY/fvs2eqzCONTOwxsT0XAKy
              'second user': '$2a$06$m0CrhHm10qJ3lXRY.5zDGO3rS2KdeeWLuGmsfGlMfOxih58VYVfxe'
            """, directory: "/etc/netns-tracer")
        let tls = try #require(config.tls)
        #expect(tls.certFile == "/etc/netns-tracer/server.crt")
        #expect(tls.keyFile == "/etc/keys/server.key")
        #expect(tls.clientCAFile == "/etc/netns-tracer/ca.crt")
        #expect(tls.clientAuth == .requireAndVerify)
        #expect(tls.minVersion == .tlsv13)
        #expect(config.headers == ["Strict-Transport-Security": "max-age=31536000"])
        #expect(config.users.keys.sorted() == ["prometheus", "second user"])
    }

    @Test("an empty file, or empty sections, mean plain HTTP without authentication, as in the toolkit")
    func empty() throws {
        for text in ["", "# nothing\n", "tls_server_config:\nbasic_auth_users: {}\n"] {
            let config = try WebConfig.parse(text, directory: "/")
            #expect(config == WebConfig(), "\(text)")
        }
    }

    @Test("a mistake is an error naming it, with its line", arguments: [
        ("tls_server_config:\n  cert_file: a\n", "needs key_file"),
        ("tls_server_config:\n  key_file: a\n", "needs cert_file"),
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  cert_fle: c\n", "line 4: unknown key 'cert_fle' in tls_server_config"),
        ("tls_config:\n  cert_file: a\n", "unknown key 'tls_config'"),
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n", "cipher_suites is not supported"),
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAnyClientCert\n", "'RequireAnyClientCert' is not supported"),
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequestClientCert\n", "'RequestClientCert' is not supported"),
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  curve_preferences: [X25519]\n", "curve_preferences is not supported"),
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_allowed_sans: [x]\n", "client_allowed_sans is not supported"),
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: VerifyClientCertIfGiven\n", "needs client_ca_file"),
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: SSL3\n", "'SSL3' is not a TLS version"),
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS13\n  max_version: TLS12\n", "max_version is older than min_version"),
        ("basic_auth_users:\n  alice: secret\n", "line 2: the password of 'alice' is not a bcrypt hash"),
        ("basic_auth_users:\n  alice: $2x$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n", "not a bcrypt hash"),
        ("basic_auth_users: [alice]\n", "basic_auth_users must be a mapping"),
        ("http_server_config:\n  headers:\n    Set-Cookie: a=b\n", "header 'Set-Cookie' cannot be set"),
        ("http_server_config:\n  http2: maybe\n", "http2 must be true or false"),
        ("tls_server_config:\n  cert_file: a\n  cert_file: b\n", "given twice"),
        ("tls_server_config:\n  cert_file: [a\n", "line "),
        ("- a list\n", "the document must be a mapping"),
    ])
    func refused(text: String, expected: String) {
        #expect {
            try WebConfig.parse(text, directory: "/etc")
        } throws: { error in
            (error as? WebConfigError)?.problem.contains(expected) == true
        }
    }

    @Test("an error never quotes the file: a password hash stays out of the logs")
    func errorsQuoteNothing() {
        let hash = "$2y$05$mKZ3.dnpfo2UMF11knlSreP.ZVzT6qY/fvs2eqzCONTOwxsT0XAKy"
        #expect {
            try WebConfig.parse("basic_auth_users:\n  alice: \(hash)\n  bob: [\n", directory: "/")
        } throws: { error in
            !"\(error)".contains(hash)
        }
    }
}

@Suite("bcrypt and basic authentication")
struct BasicAuthTests {
    /// Known answers: OpenBSD's and jBCrypt's vectors ($2a$, checked here against Apache's
    /// htpasswd -v too), one made by htpasswd -B ($2y$), and $2b$, the same as $2a$ below
    /// 255 bytes of password.
    static let vectors: [(password: String, hash: String)] = [
        ("", "$2a$06$DCq7YPn5Rq63x1Lad4cll.TV4S6ytwfsfvkgY8jIucDrjc8deX1s."),
        ("a", "$2a$06$m0CrhHm10qJ3lXRY.5zDGO3rS2KdeeWLuGmsfGlMfOxih58VYVfxe"),
        ("abc", "$2a$06$If6bvum7DFjUnE9p2uDeDu0YHzrHM6tf.iqN8.yx.jNN1ILEf7h0i"),
        ("abcdefghijklmnopqrstuvwxyz", "$2a$06$.rCVZVOThsIa97pEDOxvGuRRgzG64bvtJ0938xuqzv18d3ZpQhstC"),
        ("~!@#$%^&*()      ~!@#$%^&*()PNBFRD", "$2a$06$fPIsBO8qRqkjj273rfaOI.HtSV9jLDpTbZn782DC6/t7qT67P6FfO"),
        ("s3cret pass", "$2y$05$mKZ3.dnpfo2UMF11knlSreP.ZVzT6qY/fvs2eqzCONTOwxsT0XAKy"),
        ("abc", "$2b$06$If6bvum7DFjUnE9p2uDeDu0YHzrHM6tf.iqN8.yx.jNN1ILEf7h0i"),
    ]

    @Test("known answers match, and nothing else does")
    func knownAnswers() {
        for (password, hash) in Self.vectors {
            #expect(BasicAuthenticator.isBcryptHash(hash), "\(hash)")
            #expect(BasicAuthenticator.matches(password, hash: hash), "'\(password)' against \(hash)")
            #expect(!BasicAuthenticator.matches(password + "x", hash: hash))
            #expect(!BasicAuthenticator.matches(String(password.dropLast()) + "!", hash: hash))
        }
        // One changed character of the hash, and it no longer matches.
        #expect(!BasicAuthenticator.matches("abc", hash: "$2a$06$If6bvum7DFjUnE9p2uDeDu0YHzrHM6tf.iqN8.yx.jNN1ILEf7h0j"))
    }

    @Test("a hash made now by Apache's htpasswd -B matches (scripts/setup installs apache2-utils)")
    func htpasswdHash() throws {
        let output = try Subprocess.output(["htpasswd", "-nbB", "-C", "4", "scraper", "pässword:with colon"])
        let hash = String(try #require(output.split(separator: "\n").first?.split(separator: ":", maxSplits: 1).last))
        #expect(BasicAuthenticator.isBcryptHash(hash))
        #expect(BasicAuthenticator.matches("pässword:with colon", hash: hash))
        #expect(!BasicAuthenticator.matches("pässword:with colo", hash: hash))
    }

    @Test("Authorization: Basic is decoded strictly", arguments: [
        ("Basic YWxpY2U6c2VjcmV0", "alice", "secret"),
        ("basic   YWxpY2U6c2VjcmV0", "alice", "secret"),
        ("Basic YWxpY2U6OnM6", "alice", ":s:"),         // the password may hold ':'
        ("Basic OnB3", "", "pw"),
    ])
    func credentials(field: String, user: String, password: String) throws {
        let credentials = try #require(BasicAuthenticator.credentials(HTTPHeaders([("Authorization", field)])))
        #expect(credentials.user == user)
        #expect(credentials.password == password)
    }

    @Test("anything else is no credentials", arguments: [
        "Bearer YWxpY2U6c2VjcmV0", "Basic", "Basic YWxpY2U", "Basic YWxpY2U6c2VjcmV0=", "Basic YWxp!2U6c2VjcmV0",
        "Basic YWxpY2VzZWNyZXQ=", "Basic YW=xY2U6c2VjcmV0", "Basic " + String(repeating: "QUFB", count: 2000),
    ])
    func notCredentials(field: String) {
        #expect(BasicAuthenticator.credentials(HTTPHeaders([("Authorization", field)])) == nil)
    }
}
