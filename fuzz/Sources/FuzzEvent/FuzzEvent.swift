import NetnsCore

/// Any bytes: an event or an EventDecodingError, and an aggregator that takes whatever decodes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEvent(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    var aggregator = Aggregator()
    let record = UnsafeRawBufferPointer(start: data, count: size)
    if let event = try? NetnsEvent(wire: record) {
        aggregator.apply(event)
        _ = aggregator.leaks(at: event.timestamp)
    }
    return 0
}

