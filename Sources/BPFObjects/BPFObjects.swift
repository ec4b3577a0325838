/// The BPF objects compiled from `bpf/*.bpf.c` at build time (see the EmbedBPF plugin):
/// `EmbeddedBPFObjects.base64ByName["tracepoint"]` is the ELF of `bpf/tracepoint.bpf.c`.
