import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import SCIMServer
import ServiceLifecycle
import Synchronization
import Testing

@Suite("Readiness during graceful shutdown")
struct ReadinessTests {
    @Test("ShutdownDrain closes the gate as soon as graceful shutdown begins, then holds for the drain")
    func drainClosesTheGate() async throws {
        let gate = ReadinessGate()
        let drain = Duration.milliseconds(400)
        let sleeper = ControlledSleep()
        let group = ServiceGroup(
            services: [ShutdownDrain(gate: gate, drain: drain, sleep: sleeper.sleep)], logger: TestDatabase.logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            #expect(!gate.isDraining)
            await group.triggerGracefulShutdown()
            var requests = sleeper.requests.makeAsyncIterator()
            #expect(await requests.next() == drain, "the drain waits for the configured duration")
            #expect(gate.isDraining, "the gate is closed before the drain begins")
            sleeper.wake()
            try await tasks.next()
        }
    }

    @Test("the services before the drain (the application) hear of the shutdown only after readiness went false")
    func drainRunsFirst() async throws {
        let gate = ReadinessGate()
        let seen = Observer(gate: gate)
        let group = ServiceGroup(
            services: [seen, ShutdownDrain(gate: gate, drain: .milliseconds(100))], logger: TestDatabase.logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await Task.sleep(for: .milliseconds(50))
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(seen.drainingWhenStopped.withLock { $0 } == true)
    }

    @Test("/readyz answers 503 once draining, while every other request is still served")
    func readyzFlips() async throws {
        let gate = ReadinessGate()
        let app = try await buildApplication(
            try TestDatabase.configuration(), logger: TestDatabase.logger, readiness: gate)
        try await app.test(.router) { client in
            let api = TestClient(client: client)
            #expect(try await api.request(.get, "/readyz", bearer: nil).status == .ok)
            gate.beginDraining()
            let ready = try await api.request(.get, "/readyz", bearer: nil)
            #expect(ready.status == .serviceUnavailable)
            #expect(ready.text == "shutting down\n")
            #expect(try await api.request(.get, "/healthz", bearer: nil).status == .ok)
            let org = try await api.organisation("drain")
            #expect(try await org.scim(.get, "/Users").status == .ok)
        }
    }
}

/// A sleep the test ends: each call reports its duration on `requests`, then waits for `wake()`.
private final class ControlledSleep: Sendable {
    let requests: AsyncStream<Duration>
    private let continuation: AsyncStream<Duration>.Continuation
    private let wakeUps: AsyncStream<Void>
    private let wakeUpContinuation: AsyncStream<Void>.Continuation

    init() {
        (requests, continuation) = AsyncStream.makeStream()
        (wakeUps, wakeUpContinuation) = AsyncStream.makeStream()
    }

    @Sendable func sleep(_ duration: Duration) async throws {
        continuation.yield(duration)
        var iterator = wakeUps.makeAsyncIterator()
        _ = await iterator.next()
    }

    func wake() { wakeUpContinuation.yield() }
}

/// Records whether the gate was already closed when graceful shutdown reached this service.
private final class Observer: Service, Sendable {
    let gate: ReadinessGate
    let drainingWhenStopped = Mutex<Bool?>(nil)

    init(gate: ReadinessGate) { self.gate = gate }

    func run() async throws {
        try await gracefulShutdown()
        drainingWhenStopped.withLock { $0 = gate.isDraining }
    }
}
