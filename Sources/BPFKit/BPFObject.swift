import CLibBPF
import Glibc

/// An ELF object of BPF programs and maps, opened from memory and loaded into the kernel.
///
/// Not thread-safe: configure and load it from one thread, then share only the program and
/// map handles it gives out (their file descriptors stay valid while the object lives).
public final class BPFObject {
    /// The name the object was opened under, for messages.
    public let name: String
    private let handle: OpaquePointer
    /// libbpf keeps reading the ELF bytes until load: they live exactly as long as the object.
    private let bytes: UnsafeMutableRawBufferPointer

    /// Opens (parses) an object from its ELF bytes. Nothing reaches the kernel yet.
    public init(name: String, elf: some Collection<UInt8>) throws(BPFError) {
        self.name = name
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: elf.count, alignment: 8)
        _ = bytes.initializeMemory(as: UInt8.self, from: elf)
        var options = bpf_object_open_opts()
        options.sz = MemoryLayout<bpf_object_open_opts>.size
        let handle = name.withCString { objectName in
            options.object_name = objectName
            return bpf_object__open_mem(bytes.baseAddress, bytes.count, &options)
        }
        guard let handle else {
            let code = errno
            bytes.deallocate()
            throw BPFError(operation: "open BPF object '\(name)'", code: code)
        }
        self.handle = handle
        self.bytes = bytes
    }

    deinit {
        bpf_object__close(handle)
        bytes.deallocate()
    }

    /// Sets a map's size before load (ring buffer bytes, or hash map entries).
    public func setMaxEntries(_ entries: UInt32, ofMap mapName: String) throws(BPFError) {
        let map = try libbpfCall("find map '\(mapName)' in '\(name)'", bpf_object__find_map_by_name(handle, mapName))
        try libbpfCall("size map '\(mapName)' to \(entries)", bpf_map__set_max_entries(map, entries))
    }

    /// Leaves the programs whose section starts with `prefix` out of the load (and so out of
    /// `attach`): optional hooks.
    public func skipPrograms(inSectionsStartingWith prefix: String) throws(BPFError) {
        for program in programs where program.section.hasPrefix(prefix) {
            try libbpfCall("leave out '\(program.name)'", bpf_program__set_autoload(program.handle, false))
        }
    }

    /// Leaves the program called `programName` out of the load: a variant for other kernels.
    public func skipProgram(named programName: String) throws(BPFError) {
        let program = try program(named: programName)
        try libbpfCall("leave out '\(programName)'", bpf_program__set_autoload(program.handle, false))
    }

    /// Leaves the map called `mapName` out of the load: used only by programs left out.
    public func skipMap(named mapName: String) throws(BPFError) {
        let map = try libbpfCall("find map '\(mapName)' in '\(name)'", bpf_object__find_map_by_name(handle, mapName))
        try libbpfCall("leave out map '\(mapName)'", bpf_map__set_autocreate(map, false))
    }

    /// Verifies and loads every program and creates every map in the kernel.
    public func load() throws(BPFError) {
        try libbpfCall("load BPF object '\(name)'", bpf_object__load(handle))
    }

    /// The object's programs, in section order.
    public var programs: [BPFProgram] {
        var result: [BPFProgram] = []
        var program = bpf_object__next_program(handle, nil)
        while let current = program {
            result.append(BPFProgram(handle: current))
            program = bpf_object__next_program(handle, current)
        }
        return result
    }

    /// The program called `name`.
    public func program(named programName: String) throws(BPFError) -> BPFProgram {
        let program = try libbpfCall(
            "find program '\(programName)' in '\(name)'",
            bpf_object__find_program_by_name(handle, programName))
        return BPFProgram(handle: program)
    }

    /// The map called `name` (valid after load).
    public func map(named mapName: String) throws(BPFError) -> BPFMap {
        let map = try libbpfCall("find map '\(mapName)' in '\(name)'", bpf_object__find_map_by_name(handle, mapName))
        return BPFMap(name: mapName, fileDescriptor: bpf_map__fd(map))
    }
}
