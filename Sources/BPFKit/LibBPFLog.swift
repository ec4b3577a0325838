import CLibBPF
import Glibc
import Synchronization

/// Routes libbpf's own diagnostics (verifier logs, attach errors) to a Swift handler.
///
/// libbpf has one process-wide print callback, so this is process-wide too.
public enum LibBPFLog {
    /// How serious a libbpf message is.
    public enum Level: Sendable { case warning, info, debug }

    /// Receives each message, without its trailing newline.
    public typealias Handler = @Sendable (Level, String) -> Void

    private static let handler = Mutex<Handler?>(nil)

    /// Sends every later libbpf message to `handler`.
    public static func install(_ newHandler: @escaping Handler) {
        handler.withLock { $0 = newHandler }
        libbpf_set_print { level, format, arguments in
            guard let format, let arguments else { return 0 }
            var buffer = [CChar](repeating: 0, count: 4096)
            let written = vsnprintf(&buffer, buffer.count, format, arguments)
            guard written > 0 else { return 0 }
            var message = String(decoding: buffer.prefix { $0 != 0 }.map(UInt8.init(bitPattern:)), as: UTF8.self)
            while message.last == "\n" { message.removeLast() }
            let swiftLevel: Level = switch level {
            case LIBBPF_WARN: .warning
            case LIBBPF_INFO: .info
            default: .debug
            }
            LibBPFLog.handler.withLock { $0 }?(swiftLevel, message)
            return 0
        }
    }
}
