import CLibBPF
import Glibc
import Synchronization

/// Routes libbpf's own diagnostics (verifier logs, attach errors) to a Swift handler.
///
/// libbpf has one process-wide print callback, so this is process-wide too.
public enum LibBPFLog {
    /// How serious a libbpf message is, least first.
    public enum Level: Int, Sendable, Comparable {
        case debug, info, warning

        public static func < (lhs: Level, rhs: Level) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    /// Receives each message, without its trailing newline.
    public typealias Handler = @Sendable (Level, String) -> Void

    private static let handler = Mutex<(handler: Handler, minimum: Level)?>(nil)

    /// Sends every later libbpf message of at least `minimum` to `handler`. Messages below it
    /// are dropped before they are formatted: loading a probe set makes libbpf describe each of
    /// thousands of relocations, and formatting them all cost half a second of start-up.
    public static func install(minimum: Level = .debug, _ newHandler: @escaping Handler) {
        handler.withLock { $0 = (newHandler, minimum) }
        libbpf_set_print { level, format, arguments in
            guard let format, let arguments else { return 0 }
            let swiftLevel: Level = switch level {
            case LIBBPF_WARN: .warning
            case LIBBPF_INFO: .info
            default: .debug
            }
            guard let installed = LibBPFLog.handler.withLock({ $0 }), swiftLevel >= installed.minimum else { return 0 }
            var buffer = [CChar](repeating: 0, count: 4096)
            let written = vsnprintf(&buffer, buffer.count, format, arguments)
            guard written > 0 else { return 0 }
            var message = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            while message.last == "\n" { message.removeLast() }
            installed.handler(swiftLevel, message)
            return 0
        }
    }
}
