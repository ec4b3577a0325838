import NetnsCore

/// Any bytes: a decoded recording, or a FormatError naming an offset inside the input; and
/// what decodes encodes back to a file that decodes to the same entries.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRecording(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let decoded: (realtimeOffset: Int64, entries: [Recording.Entry])
    do {
        decoded = try Recording.decode(Array(UnsafeBufferPointer(start: data, count: size)))
    } catch {
        precondition(error.offset >= 0 && error.offset <= size, "offset \(error.offset) outside the \(size)-byte input")
        return 0
    }
    let encoded = Recording.header(realtimeOffset: decoded.realtimeOffset) + decoded.entries.flatMap(Recording.encode)
    guard let again = try? Recording.decode(encoded) else { preconditionFailure("a decoded recording does not decode once encoded") }
    precondition(again.entries.count == decoded.entries.count, "re-encoding changed the entry count")
    return 0
}
