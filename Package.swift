// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "netns-tracer",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "netns-tracer", targets: ["netns-tracer"]),
        .executable(name: "netns-bench", targets: ["netns-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),  // HEAD replies without a body
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // --web.config.file: TLS (BoringSSL), its YAML, and bcrypt (OpenBSD's, in C; the
        // HummingbirdBcrypt product builds nothing of Hummingbird itself).
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
    ],
    targets: [
        // The event layout, straight from bpf/netns_event.h: the one definition both sides use.
        .systemLibrary(name: "CNetnsEvent", path: "Sources/CNetnsEvent"),
        // libbpf, libelf and zlib from the system (Debian: libbpf-dev libelf-dev zlib1g-dev).
        .systemLibrary(name: "CLibBPF", path: "Sources/CLibBPF"),
        // capset(2) and prctl(2), which Swift cannot call itself (they are variadic).
        .systemLibrary(name: "CPrivileges", path: "Sources/CPrivileges"),

        // Pure: events in, namespace lifetimes and metrics out. No I/O, no clock.
        .target(name: "NetnsCore", dependencies: ["CNetnsEvent"]),

        // Swift over libbpf: objects, programs, links, maps, the ring buffer, typed errors.
        .target(name: "BPFKit", dependencies: ["CLibBPF"]),

        // bpf/*.bpf.c, compiled by the toolchain's clang during the build and embedded.
        .target(name: "BPFObjects", plugins: ["EmbedBPF"]),
        .executableTarget(name: "bpf-embed", path: "Sources/bpf-embed"),
        .plugin(name: "EmbedBPF", capability: .buildTool(), dependencies: ["bpf-embed"]),

        // The git commit built, for --version and netns_tracer_build_info.
        .plugin(name: "BuildInfo", capability: .buildTool()),

        // Bounded reads and writes of the host's files (procfs, sysfs, cgroupfs, configuration):
        // what the agent reads is written by others.
        .target(name: "NetnsSystem", dependencies: [.product(name: "SystemPackage", package: "swift-system")]),

        // Pure exposition: the agent's state as Prometheus/OpenMetrics text, the `/namespaces`
        // JSON, and the `list` table. No libbpf, no TLS.
        .target(
            name: "NetnsExposition",
            dependencies: ["NetnsCore", "NetnsSystem", "CNetnsEvent", .product(name: "NIOCore", package: "swift-nio")],
            plugins: ["BuildInfo"]
        ),

        // The kernel side: probe sets and their selection, the ring-buffer pump, the holder
        // and mount scanners, the host checks, and the privilege drop.
        .target(
            name: "NetnsKernel",
            dependencies: ["NetnsCore", "NetnsSystem", "BPFKit", "BPFObjects", "CNetnsEvent", "CPrivileges"]
        ),

        // The HTTP endpoint: NIO, TLS, basic authentication, the exporter toolkit's web config.
        .target(
            name: "NetnsServer",
            dependencies: [
                "NetnsExposition", "NetnsSystem",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
            ]
        ),

        // A client of a running agent's endpoint (`netns-tracer list`).
        .target(
            name: "NetnsClient",
            dependencies: [
                "NetnsCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),

        // The composition root: the agent's state, the kernel side feeding it, the server
        // showing it; the recording, replay and textfile output.
        .target(
            name: "NetnsAgent",
            dependencies: [
                "NetnsCore", "NetnsExposition", "NetnsKernel", "NetnsServer", "NetnsSystem", "BPFKit",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .executableTarget(
            name: "netns-tracer",
            dependencies: [
                "NetnsAgent", "NetnsClient", "NetnsCore", "NetnsExposition", "NetnsKernel",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // Micro-benchmarks run by benchmarks/run (release builds only matter).
        .executableTarget(
            name: "netns-bench",
            dependencies: ["NetnsAgent", "NetnsCore", "NetnsExposition", "NetnsKernel", "NetnsServer", "BPFKit", "CLibBPF"],
            path: "benchmarks/netns-bench"
        ),

        .testTarget(name: "NetnsCoreTests", dependencies: ["NetnsCore", "CNetnsEvent"]),
        // BPF programs for the tests only: the tracking state machine, run on made-up readings.
        .target(name: "BPFTestObjects", path: "Tests/BPFTestObjects", exclude: ["tracking_test.bpf.c"], plugins: ["EmbedBPF"]),
        // Helpers the test targets share: commands with deadlines, raw HTTP.
        .target(
            name: "TestKit",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Tests/TestKit"
        ),
        // The renderers alone: no libbpf, no BoringSSL.
        .testTarget(name: "NetnsExpositionTests", dependencies: ["NetnsExposition", "NetnsCore", "CNetnsEvent", "TestKit"]),
        .testTarget(name: "NetnsServerTests", dependencies: ["NetnsServer", "NetnsExposition", "NetnsClient", "TestKit"]),
        .testTarget(name: "NetnsAgentTests", dependencies: [
            "NetnsAgent", "NetnsClient", "NetnsCore", "NetnsExposition", "NetnsKernel", "CNetnsEvent", "TestKit",
        ]),
        // Root only: the real agent on the real kernel, with real namespaces.
        .testTarget(name: "BenchmarkTests", dependencies: ["netns-bench"]),
        .testTarget(name: "IntegrationTests", dependencies: [
            "NetnsAgent", "NetnsClient", "NetnsCore", "NetnsExposition", "NetnsKernel", "NetnsServer", "CLibBPF",
            "BPFKit", "BPFTestObjects", "CNetnsEvent", "TestKit",
        ]),
    ]
)
