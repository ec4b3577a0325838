import NetnsAgent
import NetnsKernel
import Testing

/// Which programs each kernel takes: the choice made at load from what the kernel offers.
/// (That each choice loads and works is proven on real kernels by scripts/kernel-matrix.)
@Suite("Program variants per kernel")
struct ProgramVariantsTests {
    static let newest = KernelCapabilities(loops: true, syscallArgumentsAtExit: true, setupNetArguments: 1)
    static let linux510 = KernelCapabilities(loops: false, syscallArgumentsAtExit: false, setupNetArguments: 2)

    @Test("with bpf_loop: the unbounded walks and scans, and no limitation to report")
    func newestKernel() {
        let variants = ProgramVariants(kind: .fentry, syscallHooks: false, kernel: Self.newest)
        #expect(!variants.boundedLoops)
        #expect(Set(variants.skipped) == ["cleanup_batch_start_bounded", "cleanup_batch_end_bounded", "refresh_bounded",
                                          "scan_tracked_elem", "scan_dying_elem", "setup_net_exit"])
        #expect(variants.limitations.isEmpty)
    }

    @Test("without bpf_loop (5.10 to 5.16): the bounded programs, and one sentence saying what that costs")
    func withoutLoops() {
        let variants = ProgramVariants(kind: .kprobe, syscallHooks: false, kernel: Self.linux510)
        #expect(variants.boundedLoops)
        #expect(Set(variants.skipped) == ["cleanup_batch_start", "cleanup_batch_end", "refresh", "refresh_full"])
        #expect(variants.limitations.count == 1)
        #expect(variants.limitations.first?.contains("bpf_loop") == true)
        #expect(variants.limitations.first?.contains("\(ProgramVariants.boundedWalkLimit) namespaces") == true)
    }

    @Test("setup_net's result is read by the program whose arguments match the kernel's BTF, or not at all")
    func setupNetArity() {
        let two = ProgramVariants(kind: .fentry, syscallHooks: false, kernel: Self.linux510)
        #expect(two.skipped.contains("setup_net_exit_net_only") && !two.skipped.contains("setup_net_exit"))
        var unknown = Self.newest
        unknown.setupNetArguments = nil
        let none = ProgramVariants(kind: .fentry, syscallHooks: false, kernel: unknown)
        #expect(none.skipped.contains("setup_net_exit") && none.skipped.contains("setup_net_exit_net_only"))
        #expect(none.limitations.contains { $0.contains("setup results are not reported") })
    }

    @Test("the syscall hooks read arguments at exit where the kernel allows, and note them at enter before")
    func syscallHooks() {
        let exitOnly = ProgramVariants(kind: .tracepoint, syscallHooks: true, kernel: Self.newest)
        #expect(exitOnly.skipped.contains("unshare_enter_noted") && !exitOnly.skipped.contains("unshare_exit"))
        let noted = ProgramVariants(kind: .tracepoint, syscallHooks: true, kernel: Self.linux510)
        #expect(noted.skipped.contains("unshare_exit") && !noted.skipped.contains("unshare_enter_noted"))
        // Without --syscall-hooks no syscall program loads at all (left out by section).
        let none = ProgramVariants(kind: .tracepoint, syscallHooks: false, kernel: Self.linux510)
        #expect(!none.skipped.contains("unshare_exit"))
    }
}
