import NIOCore

/// Runs a task's jobs on an event loop, so that a task the engine starts (a commit's `await store.append`) neither
/// starts nor resumes on the cooperative pool: a pool kept busy by other work (a test blocking its threads, say) must
/// not hold up a commit and its acks.
final class EventLoopTaskExecutor: TaskExecutor {
    let loop: any EventLoop

    init(_ loop: any EventLoop) {
        self.loop = loop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
