/// Periodic jobs on one timer: each is due every its own interval, from a common start, and the
/// one loop that runs them wakes only when some job is due. (A sleeping task per job woke the
/// runtime's timer thread and a worker for each job apart: at the default intervals, 1.6
/// wake-ups a second instead of 1.)
public struct Timetable<Job: Sendable>: Sendable {
    private struct Entry: Sendable {
        var job: Job
        var interval: Duration
        var next: Duration
    }

    /// How early a wake-up may come and still find a job due (timers may be coalesced).
    public static var slack: Duration { .milliseconds(1) }

    private var entries: [Entry]

    /// Each job first due one interval after the start; an interval under 1 ms counts as 1 ms.
    public init(_ jobs: [(job: Job, interval: Duration)]) {
        entries = jobs.map { job, interval in
            let interval = max(interval, .milliseconds(1))
            return Entry(job: job, interval: interval, next: interval)
        }
    }

    /// When, since the start, the next job is due (never, with no job).
    public var nextDue: Duration? { entries.map(\.next).min() }

    /// The jobs due at `now` (time since the start), in the order they were given. Each is
    /// next due one interval after its last due time, or, when the loop fell behind by more,
    /// one interval after `now`: a late loop runs each job once, not once per missed interval.
    public mutating func due(at now: Duration) -> [Job] {
        var due: [Job] = []
        for index in entries.indices where entries[index].next <= now + Self.slack {
            due.append(entries[index].job)
            entries[index].next += entries[index].interval
            if entries[index].next <= now { entries[index].next = now + entries[index].interval }
        }
        return due
    }
}
