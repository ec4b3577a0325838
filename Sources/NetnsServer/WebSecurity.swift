import FoundationEssentials
import Glibc
import HummingbirdBcrypt
import NetnsSystem
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// What the HTTP endpoint serves with, from a `--web.config.file`: a TLS context and the users
/// allowed in. Like the exporter toolkit, it follows the file: when the file, or a certificate,
/// key or CA file it names, changes (checked at most once a second, as connections arrive), it
/// is loaded again, so a rotated certificate is served without a restart. A change that cannot
/// be loaded leaves the last good configuration in force and is counted.
public final class WebSecurity: Sendable {
    /// A loaded configuration.
    struct Loaded: Sendable {
        var config: WebConfig
        var tls: NIOSSLContext?
        var authenticator: BasicAuthenticator?
        /// What the files were when read: a change to any means a reload.
        var stamps: [FileStamp]
    }

    /// The file's path.
    public let path: String
    private let state: Mutex<(loaded: Loaded, checkedAt: ContinuousClock.Instant)>
    /// Changes that could not be loaded.
    public let reloadFailures = Atomic<UInt64>(0)
    /// Successful reloads after the first load.
    public let reloads = Atomic<UInt64>(0)

    /// Loads `path`; any problem is an error naming the file.
    public init(path: String) throws(WebConfigError) {
        self.path = path
        state = Mutex((try Self.load(path), ContinuousClock.now))
    }

    /// The configuration in force.
    public var config: WebConfig { state.withLock { $0.loaded.config } }

    /// The configuration to serve a new connection with, reloaded first if a file changed.
    func current() -> Loaded {
        state.withLock { state in
            let now = ContinuousClock.now
            guard now - state.checkedAt >= .seconds(1) else { return state.loaded }
            state.checkedAt = now
            let stamps = state.loaded.stamps.map { FileStamp(path: $0.path) }
            guard stamps != state.loaded.stamps else { return state.loaded }
            do {
                state.loaded = try Self.load(path)
                reloads.wrappingAdd(1, ordering: .relaxed)
            } catch {
                // Not retried until a file changes again: a bad edit is counted once.
                state.loaded.stamps = stamps
                reloadFailures.wrappingAdd(1, ordering: .relaxed)
            }
            return state.loaded
        }
    }

    private static func load(_ path: String) throws(WebConfigError) -> Loaded {
        func failure(_ problem: String) -> WebConfigError { WebConfigError("--web.config.file \(path): \(problem)") }
        guard let bytes = readFileBytes(path, limit: (1 << 20) + 1) else { throw failure(String(cString: strerror(errno))) }
        guard bytes.count <= 1 << 20 else { throw failure("larger than 1 MiB: not a web-config file") }
        let text = String(decoding: bytes, as: UTF8.self)
        let directory = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        let config: WebConfig
        do {
            config = try WebConfig.parse(text, directory: directory.isEmpty ? "/" : directory)
        } catch {
            throw failure(error.problem)
        }
        var files = [path]
        var context: NIOSSLContext?
        if let tls = config.tls {
            files += [tls.certFile, tls.keyFile] + (tls.clientCAFile.map { [$0] } ?? [])
            context = try makeContext(tls, failure: failure)
        }
        return Loaded(config: config, tls: context,
                      authenticator: config.users.isEmpty ? nil : BasicAuthenticator(users: config.users),
                      stamps: files.map(FileStamp.init(path:)))
    }

    private static func makeContext(_ tls: WebConfig.TLS, failure: (String) -> WebConfigError) throws(WebConfigError) -> NIOSSLContext {
        func read<T>(_ what: String, _ file: String, _ body: () throws -> T) throws(WebConfigError) -> T {
            do {
                return try body()
            } catch {
                throw failure("cannot use \(what) \(file): \(error)")
            }
        }
        let chain = try read("cert_file", tls.certFile) { try NIOSSLCertificate.fromPEMFile(tls.certFile) }
        guard !chain.isEmpty else { throw failure("cert_file \(tls.certFile) holds no certificate") }
        let key = try read("key_file", tls.keyFile) { try NIOSSLPrivateKey(file: tls.keyFile, format: .pem) }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) },
                                                                     privateKey: .privateKey(key))
        configuration.minimumTLSVersion = tls.minVersion
        configuration.maximumTLSVersion = tls.maxVersion
        configuration.applicationProtocols = ["http/1.1"]
        if let caFile = tls.clientCAFile {
            let authorities = try read("client_ca_file", caFile) { try NIOSSLCertificate.fromPEMFile(caFile) }
            configuration.trustRoots = .certificates(authorities)
            configuration.sendCANameList = true
        }
        switch tls.clientAuth {
        case .none: configuration.certificateVerification = .none
        case .verifyIfGiven: configuration.certificateVerification = .optionalVerification
        case .requireAndVerify: configuration.certificateVerification = .noHostnameVerification
        }
        return try read("the certificate and key", "\(tls.certFile), \(tls.keyFile)") {
            try NIOSSLContext(configuration: configuration)
        }
    }
}

/// What a file was when read: a different stamp means it changed (or appeared, or went).
struct FileStamp: Sendable, Equatable {
    var path: String
    var device: UInt64 = 0, inode: UInt64 = 0, size: Int64 = -1
    var modified = timespec()

    init(path: String) {
        self.path = path
        var status = stat()
        guard stat(path, &status) == 0 else { return }
        device = UInt64(status.st_dev)
        inode = UInt64(status.st_ino)
        size = Int64(status.st_size)
        modified = status.st_mtim
    }

    static func == (lhs: FileStamp, rhs: FileStamp) -> Bool {
        lhs.path == rhs.path && lhs.device == rhs.device && lhs.inode == rhs.inode && lhs.size == rhs.size
            && lhs.modified.tv_sec == rhs.modified.tv_sec && lhs.modified.tv_nsec == rhs.modified.tv_nsec
    }
}

/// HTTP basic authentication against bcrypt hashes, the exporter toolkit's way: a user not in
/// the file costs as much as a wrong password (a dummy hash is checked), and a verified
/// user-password pair is remembered, so a scraper costs one bcrypt, not one per scrape. bcrypt
/// runs on one thread of its own, off the event loops: a client guessing passwords can take
/// one core at most, and everyone with remembered credentials is served meanwhile.
final class BasicAuthenticator: Sendable {
    private let users: [String: String]
    private let verified = Mutex<Set<Credentials>>([])
    private static let rememberedLimit = 256
    /// Checked for unknown users: a valid cost-10 hash of nothing anyone can send.
    private static let dummyHash = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi"
    /// bcrypt's thread; started at the first check (after start-up's single-threaded part).
    private static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        return pool
    }()

    struct Credentials: Hashable, Sendable {
        var user: String
        var password: String
    }

    init(users: [String: String]) { self.users = users }

    /// Whether `hash` is a bcrypt hash this authenticator can check.
    static func isBcryptHash(_ hash: String) -> Bool {
        let bytes = Array(hash.utf8)
        guard bytes.count == 60, hash.hasPrefix("$2a$") || hash.hasPrefix("$2b$") || hash.hasPrefix("$2y$"),
              bytes[6] == UInt8(ascii: "$"), let cost = Int(String(decoding: bytes[4..<6], as: UTF8.self)),
              (4...31).contains(cost) else { return false }
        return bytes[7...].allSatisfy { byte in
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "/")
        }
    }

    /// Whether `password` matches the bcrypt `hash` ($2y$ is $2b$ under another name).
    static func matches(_ password: String, hash: String) -> Bool {
        let normalized = hash.hasPrefix("$2y$") ? "$2b$" + hash.dropFirst(4) : hash
        return Bcrypt.verify(password, hash: normalized)
    }

    /// The user and password of an `Authorization: Basic` header, if it is one.
    static func credentials(_ headers: HTTPHeaders) -> Credentials? {
        guard let field = headers.first(name: "Authorization") else { return nil }
        let parts = field.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "basic" else { return nil }
        // Strict standard base64 (RFC 4648, padded: Foundation alone takes a short last group),
        // bounded first, as the header is untrusted.
        let encoded = parts[1].drop { $0 == " " }
        guard encoded.utf8.count <= 4096, encoded.utf8.count % 4 == 0,
              let decoded = Data(base64Encoded: String(encoded)).map(Array.init),
              let colon = decoded.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        return Credentials(user: String(decoding: decoded[..<colon], as: UTF8.self),
                           password: String(decoding: decoded[(colon + 1)...], as: UTF8.self))
    }

    /// Whether the request's credentials are good; answered on `eventLoop`.
    func authorize(_ headers: HTTPHeaders, on eventLoop: any EventLoop) -> EventLoopFuture<Bool> {
        guard let credentials = Self.credentials(headers) else { return eventLoop.makeSucceededFuture(false) }
        if verified.withLock({ $0.contains(credentials) }) { return eventLoop.makeSucceededFuture(true) }
        let hash = users[credentials.user]
        return Self.pool.runIfActive(eventLoop: eventLoop) { [self] in
            let matches = Self.matches(credentials.password, hash: hash ?? Self.dummyHash) && hash != nil
            if matches {
                verified.withLock { remembered in
                    if remembered.count >= Self.rememberedLimit { remembered.removeAll() }
                    remembered.insert(credentials)
                }
            }
            return matches
        }
    }
}
