import BPFKit
import Glibc
import NetnsSystem

/// What the host lacks for the agent to load its programs, in one sentence a user can act on.
public enum PreflightError: Error, CustomStringConvertible {
    case notPrivileged
    case noBTF(path: String)
    case seccompRefusesBPF

    public var description: String {
        switch self {
        case .notPrivileged:
            "netns-tracer needs root (or CAP_BPF and CAP_PERFMON, plus CAP_SYS_PTRACE to see mounts in other mount namespaces) to load BPF programs; run it with sudo"
        case .noBTF(let path):
            "this kernel exposes no BTF type information (\(path) is missing); netns-tracer needs a kernel built with CONFIG_DEBUG_INFO_BTF=y"
        case .seccompRefusesBPF:
            "the bpf() system call is refused although netns-tracer holds the capabilities for it: a seccomp filter is in force (Seccomp: 2 in /proc/self/status), such as a container runtime's default profile that allows bpf() and perf_event_open() only with CAP_SYS_ADMIN (containerd before 1.7, cri-o before 1.26); run the container with an Unconfined seccomp profile, or one that allows both system calls to CAP_BPF and CAP_PERFMON holders"
        }
    }
}

/// Checks, before anything is loaded, what the agent needs from the host.
public enum Preflight {
    /// What the agent will not see for lack of an optional capability, one sentence each.
    public static func reducedVisibility(statusPath: String = "/proc/self/status") -> [String] {
        guard let capabilities = readSmallFile(statusPath).flatMap(effectiveCapabilities(fromStatus:)) else { return [] }
        var missing: [String] = []
        if !capabilities.contains(.sysPtrace) {
            missing.append("no CAP_SYS_PTRACE: bind mounts in other mount namespaces are not seen, so namespaces pinned only there show no holder")
        }
        return missing
    }

    /// Fails with a clear reason if the process cannot load BPF or the kernel has no BTF.
    ///
    /// Loading and attaching tracing programs and reading kernel memory from them takes
    /// CAP_BPF and CAP_PERFMON; nothing else is required. CAP_SYS_PTRACE lets the holder scans
    /// read other mount namespaces (`/proc/PID/ns/mnt`, `/proc/PID/root`), and CAP_SYS_ADMIN
    /// lets `ensureTracefs` mount tracefs where nothing has; both are optional.
    public static func check(btfPath: String = "/sys/kernel/btf/vmlinux", statusPath: String = "/proc/self/status") throws(PreflightError) {
        let status = readSmallFile(statusPath)
        let capabilities = status.flatMap(effectiveCapabilities(fromStatus:))
        // CAP_SYS_ADMIN still implies the other two, as it did before they existed (5.8).
        let privileged = capabilities.map { caps in
            caps.contains(.sysAdmin) || (caps.contains(.bpf) && caps.contains(.perfmon))
        } ?? (geteuid() == 0)
        guard privileged else { throw .notPrivileged }
        guard access(btfPath, R_OK) == 0 else { throw .noBTF(path: btfPath) }
        if let status, seccompFiltered(status: status), KernelFeatures.bpfSystemCallRefused() {
            throw .seccompRefusesBPF
        }
    }

    /// Mounts tracefs where libbpf looks for tracepoints, if nothing is mounted there.
    /// Returns false if it is absent and could not be mounted (tracepoint attach will say so).
    @discardableResult
    public static func ensureTracefs(at path: String = "/sys/kernel/tracing") -> Bool {
        if access("\(path)/events", F_OK) == 0 { return true }
        return mount("nodev", path, "tracefs", 0, nil) == 0
    }

    /// Whether a seccomp filter applies to this process (`Seccomp: 2` in /proc/self/status).
    static func seccompFiltered(status: String) -> Bool {
        statusField("Seccomp", in: status) == "2"
    }

    /// The effective capabilities, from `CapEff` in /proc/self/status.
    static func effectiveCapabilities(fromStatus status: String) -> CapabilitySet? {
        statusField("CapEff", in: status).flatMap(CapabilitySet.init(statusHex:))
    }

    /// The value of `name:` in a /proc/PID/status text, without the whitespace before it.
    static func statusField(_ name: String, in status: String) -> Substring? {
        status.split(separator: "\n").first { $0.hasPrefix("\(name):") }
            .map { $0.dropFirst(name.count + 1).trimmingPrefix(while: \.isWhitespace) }
    }
}
