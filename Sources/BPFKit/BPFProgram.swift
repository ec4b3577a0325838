import CLibBPF
import Glibc

/// One program of a loaded `BPFObject`. Valid while its object lives.
public struct BPFProgram: @unchecked Sendable {
    // libbpf's program handle; the calls made through it here only read it or attach it.
    let handle: OpaquePointer

    /// The function name in the C source.
    public var name: String { String(cString: bpf_program__name(handle)) }
    /// The ELF section, which names the hook: "tracepoint/syscalls/sys_exit_unshare".
    public var section: String { String(cString: bpf_program__section_name(handle)) }

    /// Whether the program is loaded with its object (false for programs left out).
    public var isLoaded: Bool { bpf_program__autoload(handle) }

    /// Attaches the program where its section says.
    public func attach() throws(BPFError) -> BPFLink {
        let link = try libbpfCall("attach '\(name)' (\(section))", bpf_program__attach(handle))
        return BPFLink(handle: link)
    }

    /// Runs the program once with an empty context (BPF_PROG_TEST_RUN), for programs that
    /// are not attached anywhere but called on demand. Returns the program's return value.
    @discardableResult
    public func run() throws(BPFError) -> UInt32 {
        var options = bpf_test_run_opts()
        options.sz = MemoryLayout<bpf_test_run_opts>.size
        try libbpfCall("run '\(name)'", bpf_prog_test_run_opts(bpf_program__fd(handle), &options))
        return options.retval
    }

    /// Runs an iterator program over everything it iterates and returns what it wrote,
    /// up to `limit` bytes (the rest is read and dropped; `truncated` says so).
    public func iterate(limit: Int = 256 << 20) throws(BPFError) -> (output: [UInt8], truncated: Bool) {
        let link = try libbpfCall("attach iterator '\(name)'", bpf_program__attach_iter(handle, nil))
        defer { bpf_link__destroy(link) }
        return try drain(iterator: link, limit: limit)
    }

    /// Runs a map-element iterator program (`iter/bpf_map_elem`) over every element of `map`
    /// and returns what it wrote, as `iterate()` does.
    @discardableResult
    public func iterate(over map: BPFMap, limit: Int = 256 << 20) throws(BPFError) -> (output: [UInt8], truncated: Bool) {
        var info = bpf_iter_link_info()
        info.map.map_fd = UInt32(bitPattern: map.fileDescriptor)
        let link = try withUnsafeMutablePointer(to: &info) { info throws(BPFError) in
            var options = bpf_iter_attach_opts()
            options.sz = MemoryLayout<bpf_iter_attach_opts>.size
            options.link_info = info
            options.link_info_len = UInt32(MemoryLayout<bpf_iter_link_info>.size)
            return try libbpfCall("attach iterator '\(name)' to map '\(map.name)'",
                                  bpf_program__attach_iter(handle, &options))
        }
        defer { bpf_link__destroy(link) }
        return try drain(iterator: link, limit: limit)
    }

    /// How many reads in a row may end with EAGAIN (each after a million objects with no
    /// output) before an iterator is taken to be stuck.
    static let emptyReadsAllowed = 64

    private func drain(iterator link: OpaquePointer, limit: Int) throws(BPFError) -> (output: [UInt8], truncated: Bool) {
        let fd = bpf_iter_create(bpf_link__fd(link))
        try libbpfCall("create iterator '\(name)'", fd)
        defer { close(fd) }
        var output: [UInt8] = []
        var truncated = false
        var buffer = [UInt8](repeating: 0, count: 65536)
        // The kernel ends a read with EAGAIN after a million objects that wrote nothing, and
        // the next read goes on from there: a few in a row are a large host, dozens are an
        // iterator that no longer moves forward, and the scan gives up rather than spin.
        var emptyReads = 0
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count == 0 { return (output, truncated) }
            if count < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN, emptyReads < Self.emptyReadsAllowed {
                    emptyReads += 1
                    continue
                }
                throw BPFError(operation: "read iterator '\(name)'", code: errno)
            }
            emptyReads = 0
            if output.count + count <= limit {
                output.append(contentsOf: buffer.prefix(count))
            } else {
                truncated = true
            }
        }
    }
}

/// An attached program. Detaches when released, or at `detach()`.
public final class BPFLink: @unchecked Sendable {
    // Guarded by being touched only at detach, which callers serialise (one owner).
    private var handle: OpaquePointer?

    init(handle: OpaquePointer) { self.handle = handle }

    deinit { detach() }

    /// Detaches the program now.
    public func detach() {
        if let handle { bpf_link__destroy(handle) }
        handle = nil
    }
}
