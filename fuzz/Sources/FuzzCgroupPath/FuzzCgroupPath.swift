import NetnsCore

/// Any text: a container identity whose id, if any, comes from the path itself.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCgroupPath(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let path = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    if let identity = ContainerIdentity.parse(cgroupPath: path), let id = identity.containerID {
        precondition(path.contains(id), "an id not in the path: \(id)")
    }
    return 0
}

