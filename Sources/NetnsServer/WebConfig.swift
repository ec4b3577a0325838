import NIOSSL
import Yams

/// `--web.config.file`: TLS and basic authentication for the HTTP endpoint, in the format of
/// Prometheus' exporter toolkit (docs/web-configuration.md there), so the file a host already
/// has for node_exporter works here too:
///
///     tls_server_config:
///       cert_file: server.crt          # relative paths: from the file's own directory
///       key_file: server.key
///       client_auth_type: RequireAndVerifyClientCert   # or NoClientCert, VerifyClientCertIfGiven
///       client_ca_file: clients.crt
///       min_version: TLS12             # TLS10 .. TLS13
///       max_version: TLS13
///     http_server_config:
///       http2: false                   # HTTP/1.1 is served either way
///       headers:
///         Strict-Transport-Security: max-age=31536000
///     basic_auth_users:
///       prometheus: $2y$10$...         # bcrypt: htpasswd -nBC 10 prometheus
///
/// Like the toolkit, it is strict: an unknown key is an error, not a setting silently ignored.
/// Toolkit keys this agent does not implement (cipher_suites, curve_preferences,
/// client_allowed_sans, other client_auth_type values, ...) are refused by name.
public struct WebConfig: Sendable, Equatable {
    /// `tls_server_config`.
    public struct TLS: Sendable, Equatable {
        /// Which client certificates are asked for, and what is done with them.
        public enum ClientAuth: String, Sendable, CaseIterable {
            case none = "NoClientCert"
            case verifyIfGiven = "VerifyClientCertIfGiven"
            case requireAndVerify = "RequireAndVerifyClientCert"
        }

        /// The server's certificate chain (PEM), an absolute path.
        public var certFile: String
        /// Its private key (PEM), an absolute path.
        public var keyFile: String
        /// Client certificates are verified against these CAs (PEM), an absolute path.
        public var clientCAFile: String?
        /// Which client certificates are asked for.
        public var clientAuth: ClientAuth = .none
        /// The oldest TLS version accepted (the toolkit's default: TLS 1.2).
        public var minVersion: TLSVersion = .tlsv12
        /// The newest TLS version offered.
        public var maxVersion: TLSVersion?
    }

    /// TLS, or nil for plain HTTP.
    public var tls: TLS?
    /// User names and their bcrypt hashes; empty means no authentication.
    public var users: [String: String] = [:]
    /// Extra response headers.
    public var headers: [String: String] = [:]

    /// No TLS, no authentication.
    public init() {}

    /// The response headers the toolkit allows to be set.
    static let allowedHeaders: Set<String> = [
        "Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options", "X-XSS-Protection",
        "Content-Security-Policy",
    ]

    /// The toolkit's version names, oldest first.
    static let versions: KeyValuePairs<String, TLSVersion> = ["TLS10": .tlsv1, "TLS11": .tlsv11, "TLS12": .tlsv12, "TLS13": .tlsv13]

    static func age(_ version: TLSVersion) -> Int { versions.firstIndex { $0.value == version } ?? 0 }

    /// Parses a web-config document; relative paths in it are taken from `directory`.
    public static func parse(_ text: String, directory: String) throws(WebConfigError) -> WebConfig {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw WebConfigError(Self.describe(error))
        } catch {
            throw WebConfigError("\(error)")
        }
        var config = WebConfig()
        guard let root else { return config }  // an empty file: plain HTTP, as in the toolkit
        let document = try Section(root, name: "the document")
        for (key, value) in document.entries {
            switch key {
            case "tls_server_config":
                config.tls = try parseTLS(Section(value, name: key), directory: directory)
            case "http_server_config":
                config.headers = try parseHTTP(Section(value, name: key))
            case "basic_auth_users":
                config.users = try parseUsers(Section(value, name: key))
            default:
                throw WebConfigError(at: value, "unknown key '\(key)' (expected tls_server_config, http_server_config or basic_auth_users)")
            }
        }
        return config
    }

    private static func parseTLS(_ section: Section, directory: String) throws(WebConfigError) -> TLS? {
        guard !section.entries.isEmpty else { return nil }
        var certFile: String?
        var keyFile: String?
        var tls = TLS(certFile: "", keyFile: "")
        for (key, value) in section.entries {
            switch key {
            case "cert_file": certFile = try section.string(value, key)
            case "key_file": keyFile = try section.string(value, key)
            case "client_ca_file": tls.clientCAFile = absolute(try section.string(value, key), in: directory)
            case "client_auth_type":
                let name = try section.string(value, key)
                guard let auth = TLS.ClientAuth(rawValue: name) else {
                    throw WebConfigError(at: value, "client_auth_type '\(name)' is not supported (use one of \(TLS.ClientAuth.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                tls.clientAuth = auth
            case "min_version", "max_version":
                let name = try section.string(value, key)
                guard let version = versions.first(where: { $0.key == name })?.value else {
                    throw WebConfigError(at: value, "\(key) '\(name)' is not a TLS version (use TLS10, TLS11, TLS12 or TLS13)")
                }
                if key == "min_version" { tls.minVersion = version } else { tls.maxVersion = version }
            case "cert", "key", "client_ca", "cipher_suites", "curve_preferences", "prefer_server_cipher_suites",
                 "client_allowed_sans":
                throw WebConfigError(at: value, "tls_server_config.\(key) is not supported by netns-tracer")
            default:
                throw WebConfigError(at: value, "unknown key '\(key)' in tls_server_config")
            }
        }
        guard let certFile, !certFile.isEmpty else { throw WebConfigError("tls_server_config needs cert_file") }
        guard let keyFile, !keyFile.isEmpty else { throw WebConfigError("tls_server_config needs key_file") }
        tls.certFile = absolute(certFile, in: directory)
        tls.keyFile = absolute(keyFile, in: directory)
        if tls.clientAuth != .none, tls.clientCAFile == nil {
            throw WebConfigError("client_auth_type \(tls.clientAuth.rawValue) needs client_ca_file")
        }
        if let maxVersion = tls.maxVersion, age(maxVersion) < age(tls.minVersion) {
            throw WebConfigError("max_version is older than min_version")
        }
        return tls
    }

    private static func parseHTTP(_ section: Section) throws(WebConfigError) -> [String: String] {
        var headers: [String: String] = [:]
        for (key, value) in section.entries {
            switch key {
            case "http2":
                guard case .scalar(let scalar) = value, Bool.construct(from: scalar) != nil else {
                    throw WebConfigError(at: value, "http2 must be true or false")
                }
            case "headers":
                for (name, headerValue) in try Section(value, name: "headers").entries {
                    guard allowedHeaders.contains(name) else {
                        throw WebConfigError(at: headerValue, "header '\(name)' cannot be set (allowed: \(allowedHeaders.sorted().joined(separator: ", ")))")
                    }
                    let text = try section.string(headerValue, name)
                    guard text.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x7F }) else {
                        throw WebConfigError(at: headerValue, "header '\(name)' has a control character in its value")
                    }
                    headers[name] = text
                }
            default:
                throw WebConfigError(at: value, "unknown key '\(key)' in http_server_config")
            }
        }
        return headers
    }

    private static func parseUsers(_ section: Section) throws(WebConfigError) -> [String: String] {
        var users: [String: String] = [:]
        for (user, value) in section.entries {
            let hash = try section.string(value, user)
            guard BasicAuthenticator.isBcryptHash(hash) else {
                throw WebConfigError(at: value, "the password of '\(user)' is not a bcrypt hash ($2a$, $2b$ or $2y$; make one with htpasswd -nBC 10 \(user))")
            }
            guard !user.contains(":") else { throw WebConfigError(at: value, "user name '\(user)' contains ':'") }
            users[user] = hash
        }
        return users
    }

    private static func absolute(_ path: String, in directory: String) -> String {
        path.hasPrefix("/") ? path : directory + "/" + path
    }

    /// Yams' errors quote the offending line, which may hold a password hash: only where and what.
    private static func describe(_ error: YamlError) -> String {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
             .composer(_, let problem, let mark, _):
            return "line \(mark.line), column \(mark.column): \(problem)"
        case .reader(let problem, let offset, _, _):
            return "at byte \(offset ?? 0): \(problem)"
        case .duplicatedKeysInMapping(let duplicates, let context):
            return "line \(context.mark.line): \(duplicates.map { "'\($0)'" }.joined(separator: ", ")) given twice"
        default:
            return "not valid YAML"
        }
    }

    /// A mapping whose keys are all strings, each once.
    private struct Section {
        var entries: [(key: String, value: Node)] = []

        init(_ node: Node, name: String) throws(WebConfigError) {
            if node.null != nil { return }  // `key:` alone, or `~`
            guard case .mapping(let mapping) = node else { throw WebConfigError(at: node, "\(name) must be a mapping") }
            var seen = Set<String>()
            for (key, value) in mapping {
                guard case .scalar(let scalar) = key else { throw WebConfigError(at: key, "keys must be plain strings") }
                guard seen.insert(scalar.string).inserted else { throw WebConfigError(at: key, "'\(scalar.string)' is given twice") }
                entries.append((scalar.string, value))
            }
        }

        func string(_ node: Node, _ key: String) throws(WebConfigError) -> String {
            guard case .scalar(let scalar) = node else { throw WebConfigError(at: node, "\(key) must be a string") }
            return scalar.string
        }
    }
}

/// A web-config file that cannot be used, and why.
public struct WebConfigError: Error, Equatable, CustomStringConvertible {
    /// What is wrong, with the line where the file says it.
    public var problem: String

    init(_ problem: String) { self.problem = problem }

    init(at node: Node, _ problem: String) {
        self.problem = node.mark.map { "line \($0.line): \(problem)" } ?? problem
    }

    public var description: String { problem }
}
