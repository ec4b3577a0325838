/// Parsing of `/proc/PID/mountinfo` (see proc(5)); its content is untrusted text.
enum MountInfo {
    /// Mount points of nsfs mounts of network namespaces, with the namespace's inum: lines
    /// whose root is `net:[N]` and whose filesystem type is `nsfs`. Octal escapes in paths
    /// (`\040`) are decoded.
    static func networkNamespaceMounts(in text: String) -> [(mountPoint: String, inum: UInt32)] {
        var result: [(String, UInt32)] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count >= 10,
                  let separator = fields.firstIndex(of: "-"), separator + 1 < fields.count,
                  fields[separator + 1] == "nsfs",
                  fields[3].hasPrefix("net:["), fields[3].hasSuffix("]"),
                  let inum = UInt32(fields[3].dropFirst("net:[".count).dropLast())
            else { continue }
            result.append((unescape(fields[4]), inum))
        }
        return result
    }

    /// Decodes the `\NNN` octal escapes the kernel writes for space, tab, newline and `\`.
    static func unescape(_ field: Substring) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(field.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "\\"), utf8.count >= 3,
               let value = Int(String(decoding: utf8.prefix(3), as: UTF8.self), radix: 8), value < 256 {
                bytes.append(UInt8(value))
                utf8 = utf8.dropFirst(3)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
