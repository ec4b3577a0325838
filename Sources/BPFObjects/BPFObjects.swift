/// The BPF objects compiled from `bpf/*.bpf.c` at build time (see the EmbedBPF plugin):
/// `EmbeddedBPFObjects.base64ByName["netns"]` is the ELF of `bpf/netns.bpf.c`, every probe set in one.
