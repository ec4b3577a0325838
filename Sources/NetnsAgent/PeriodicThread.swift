import Dispatch
import Glibc
import Synchronization

/// A thread of its own for the agent's periodic work, which sleeps in `poll(2)` between jobs:
/// one context switch per wake-up. (Tasks sleeping in `Task.sleep` woke the runtime's timer
/// thread and one or two pool threads each time, six or seven switches a wake-up; under a
/// hypervisor each costs tens of microseconds, and they were half of what the idle agent
/// used.) The work blocks, as the ring buffer's reader does, so it stays off the cooperative
/// pool.
final class PeriodicThread: Sendable {
    /// A pipe: `stop` writes to it, and the sleeping thread wakes (-1s if none could be made:
    /// then it notices a stop within 100 ms).
    private let wakePipe: (read: Int32, write: Int32)
    private let stopRequested = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)

    /// Starts `body` on a serial queue labelled `label` (a thread it keeps while `body` runs);
    /// `body` sleeps with `sleep(until:)`.
    init(label: String, body: @escaping @Sendable (PeriodicThread) -> Void) {
        var ends: [Int32] = [-1, -1]
        if pipe(&ends) == 0 {
            for end in ends {
                _ = fcntl(end, F_SETFD, FD_CLOEXEC)   // the agent starts no process to inherit them
                _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
            }
        } else {
            ends = [-1, -1]
        }
        wakePipe = (ends[0], ends[1])
        DispatchQueue(label: label).async { [self] in
            body(self)
            finished.signal()
        }
    }

    /// Sleeps until `deadline`; false, at once, when asked to stop.
    func sleep(until deadline: ContinuousClock.Instant) -> Bool {
        while !stopRequested.load(ordering: .acquiring) {
            let left = deadline - .now
            guard left > .zero else { return true }
            // Rounded up: a wake-up never comes before the deadline.
            let milliseconds = min((left / .milliseconds(1)).rounded(.up), Double(Int32.max))
            var descriptor = pollfd(fd: wakePipe.read, events: Int16(POLLIN), revents: 0)
            _ = poll(&descriptor, 1, wakePipe.read >= 0 ? Int32(milliseconds) : min(Int32(milliseconds), 100))
        }
        return false
    }

    /// Whether a stop was asked for: the work should end before its next job.
    var isStopping: Bool { stopRequested.load(ordering: .acquiring) }

    /// Stops the thread at its next sleep (wakes it if asleep) and waits for the job it is
    /// running to end. Once: a later call returns at once.
    func stop() async {
        guard !stopRequested.exchange(true, ordering: .acquiringAndReleasing) else { return }
        if wakePipe.write >= 0 {
            var byte: UInt8 = 1
            _ = write(wakePipe.write, &byte, 1)
        }
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { [finished] in
                finished.wait()
                continuation.resume()
            }
        }
        for end in [wakePipe.read, wakePipe.write] where end >= 0 { close(end) }
    }
}
