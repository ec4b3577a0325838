/// What the agent's endpoint and its clients agree on.
public enum AgentEndpoint {
    /// The port an agent serves on unless told otherwise (registered with the Prometheus
    /// project's default port allocations).
    public static let defaultPort = 9756
}
