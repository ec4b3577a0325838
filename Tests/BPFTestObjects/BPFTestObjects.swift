/// BPF programs that exist only for the tests, compiled from `Tests/BPFTestObjects/*.bpf.c`
/// against the shared headers in `bpf/` (the EmbedBPF plugin):
/// `EmbeddedBPFObjects.base64ByName["tracking_test"]` is the ELF of `tracking_test.bpf.c`.
