/// What the agent was built from: `netns-tracer --version` and `netns_tracer_build_info`.
/// The revision is written by the BuildInfo plugin at build time.
public enum BuildInfo {
    /// The release version.
    public static let version = "0.1.0"

    /// One line for `--version`.
    public static var description: String {
        "netns-tracer \(version) (revision \(revision == "unknown" ? revision : String(revision.prefix(12))))"
    }
}
