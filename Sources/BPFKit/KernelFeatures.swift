import CLibBPF
import Glibc

/// What the running kernel offers BPF programs, asked of the kernel itself: a helper is there
/// if the verifier accepts a call to it, a function's arguments are what the kernel's BTF says.
/// This is how a program set built once picks its variants at load on every kernel (as
/// libbpf-tools does), rather than by kernel version, which distributions' backports defeat.
public enum KernelFeatures {
    /// Whether programs of `programType` may call `helper`.
    public static func hasHelper(_ helper: bpf_func_id, for programType: bpf_prog_type = BPF_PROG_TYPE_TRACEPOINT) -> Bool {
        libbpf_probe_bpf_helper(programType, helper, nil) > 0
    }

    /// Whether the `bpf()` system call itself is refused to this process (EPERM): it creates
    /// and closes a one-entry array map, which CAP_BPF allows on every kernel that has it.
    public static func bpfSystemCallRefused() -> Bool {
        let descriptor = bpf_map_create(BPF_MAP_TYPE_ARRAY, nil, 4, 4, 1, nil)
        guard descriptor < 0 else {
            close(descriptor)
            return false
        }
        return -descriptor == EPERM
    }

    /// How many arguments the kernel function `name` takes, as the kernel's BTF describes it;
    /// nil if the BTF cannot be read or does not list the function (inlined, or renamed).
    public static func argumentCount(ofFunction name: String) -> Int? {
        guard let btf = btf__load_vmlinux_btf() else { return nil }
        defer { btf__free(btf) }
        let id = btf__find_by_name_kind(btf, name, 12 /* BTF_KIND_FUNC */)
        guard id > 0, let function = btf__type_by_id(btf, UInt32(id)),
              let prototype = btf__type_by_id(btf, function.pointee.type)
        else { return nil }
        return Int(prototype.pointee.info & 0xffff)    // btf_vlen
    }
}
