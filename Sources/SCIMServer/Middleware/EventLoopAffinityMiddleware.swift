import Hummingbird
import NIOCore

/// Runs a request's task on the event loop that owns its connection.
///
/// Swift concurrency's jobs run on the NIO event loops (see `scim-server`'s `main`), but a task
/// resumed from another thread (a Postgres pool thread handing back a result) lands on whichever loop
/// comes next, and writing the response then hops back to the connection's loop. With the connection's
/// loop as the task's executor preference, the result comes back where the response is written.
struct EventLoopAffinityMiddleware: RouterMiddleware {
    func handle(_ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response) async throws -> Response {
        try await withTaskExecutorPreference(EventLoopTaskExecutor(eventLoop: context.eventLoop)) {
            try await next(request, context)
        }
    }
}

/// An event loop as a `TaskExecutor`: jobs enqueued on it run in the loop's next tick.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        self.eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
