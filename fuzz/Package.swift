// swift-tools-version: 6.1
// libFuzzer targets for the decoders of untrusted input, built and run by scripts/fuzz with
// `--sanitize=fuzzer --sanitize=address`. The pure core's sources are linked in (symlinks to
// ../Sources), not depended on: the main package's build plugin would be sanitized too.
import PackageDescription

let package = Package(
    name: "netns-tracer-fuzz",
    targets: [
        .systemLibrary(name: "CNetnsEvent", path: "Sources/CNetnsEvent"),
        .target(name: "NetnsCore", dependencies: ["CNetnsEvent"], path: "Sources/NetnsCore"),
        // Recording files (`netns-tracer replay`): header, entries, every length and count.
        .executableTarget(name: "FuzzRecording", dependencies: ["NetnsCore"]),
        // Ring buffer records, as the kernel side writes them.
        .executableTarget(name: "FuzzEvent", dependencies: ["NetnsCore"]),
        // cgroup paths, which name containers and pods.
        .executableTarget(name: "FuzzCgroupPath", dependencies: ["NetnsCore"]),
    ]
)
