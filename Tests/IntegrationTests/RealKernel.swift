import Testing

/// Every test that runs the agent on the real kernel. Serialized as a whole: each test counts
/// every namespace the host creates while it runs, and checks which BPF programs are loaded.
@Suite("Real kernel", .serialized)
enum RealKernel {}
