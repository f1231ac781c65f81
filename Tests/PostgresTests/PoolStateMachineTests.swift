import Testing

@testable import Postgres

@Suite("Pool state machine")
struct PoolStateMachineTests {
    typealias Machine = ConnectionPoolStateMachine<String>

    @Test("grants open slots up to the maximum, then queues")
    func opensLazilyThenQueues() {
        var machine = Machine(maximumConnections: 2)
        #expect(machine.lease(1).isOpenSlot)
        #expect(machine.lease(2).isOpenSlot)
        #expect(machine.lease(3).isWait)
        #expect(machine.leased == 2)
        #expect(machine.waiters == [3])
    }

    @Test("a released connection is reused rather than a new one opened")
    func reusesIdleConnections() {
        var machine = Machine(maximumConnections: 2)
        _ = machine.lease(1)
        let action = machine.release("a", bucket: 0, reusable: true)
        #expect(action.close == nil && action.handOver == nil)
        #expect(machine.idle == ["a"])
        #expect(machine.lease(2).connection == "a")
        #expect(machine.leased == 1)
    }

    @Test("waiters are served first in, first out")
    func fifoHandOver() {
        var machine = Machine(maximumConnections: 1)
        _ = machine.lease(1)
        _ = machine.lease(2)
        _ = machine.lease(3)
        let first = machine.release("a", bucket: 0, reusable: true)
        #expect(first.handOver?.waiter == 2)
        #expect(first.handOver?.grant.connection == "a")
        let second = machine.release("a", bucket: 0, reusable: true)
        #expect(second.handOver?.waiter == 3)
        #expect(machine.leased == 1)
        #expect(machine.waiters.isEmpty)
    }

    @Test("a broken connection is closed and its slot goes to the next waiter")
    func brokenConnectionFreesSlot() {
        var machine = Machine(maximumConnections: 1)
        _ = machine.lease(1)
        _ = machine.lease(2)
        let action = machine.release("a", bucket: 0, reusable: false)
        #expect(action.close == "a")
        #expect(action.handOver?.waiter == 2)
        #expect(action.handOver?.grant.isOpenSlot == true)
        #expect(machine.leased == 1)
        #expect(machine.idle.isEmpty)
    }

    @Test("a broken connection with nobody waiting frees the slot")
    func brokenConnectionWithoutWaiters() {
        var machine = Machine(maximumConnections: 1)
        _ = machine.lease(1)
        #expect(machine.release("a", bucket: 0, reusable: false).close == "a")
        #expect(machine.leased == 0)
        #expect(machine.lease(2).isOpenSlot)
    }

    @Test("a failed open passes the slot on")
    func failedOpenPassesSlot() {
        var machine = Machine(maximumConnections: 1)
        _ = machine.lease(1)
        _ = machine.lease(2)
        #expect(machine.releaseSlot(bucket: 0).handOver?.waiter == 2)
        #expect(machine.leased == 1)
        #expect(machine.releaseSlot(bucket: 0).handOver == nil)
        #expect(machine.leased == 0)
    }

    @Test("a timed-out or cancelled waiter is removed once, and a served one not at all")
    func removingWaiters() {
        var machine = Machine(maximumConnections: 1)
        _ = machine.lease(1)
        _ = machine.lease(2)
        _ = machine.lease(3)
        let first = machine.removeWaiter(2)
        let again = machine.removeWaiter(2)
        #expect(first && !again)
        #expect(machine.release("a", bucket: 0, reusable: true).handOver?.waiter == 3)
        let served = machine.removeWaiter(3)
        #expect(!served)
    }

    @Test("shutdown fails waiters, closes idle connections now and leased ones on return")
    func shutdown() {
        var machine = Machine(maximumConnections: 2)
        _ = machine.lease(1)
        _ = machine.lease(2)
        _ = machine.release("a", bucket: 0, reusable: true)
        _ = machine.lease(3)
        _ = machine.lease(4)
        let (close, fail) = machine.shutdown()
        #expect(close.isEmpty)
        #expect(fail == [4])
        #expect(machine.lease(5).isShutdown)
        #expect(machine.release("a", bucket: 0, reusable: true).close == "a")
        #expect(machine.release("b", bucket: 1, reusable: true).close == "b")
        #expect(machine.leased == 0)
    }

    @Test("affinity: an idle connection that served the same bucket is preferred")
    func idleAffinity() {
        var machine = Machine(maximumConnections: 2)
        _ = machine.lease(1, bucket: 0)
        _ = machine.lease(2, bucket: 1)
        _ = machine.release("a", bucket: 0, reusable: true)
        _ = machine.release("b", bucket: 1, reusable: true)
        #expect(machine.lease(3, bucket: 0).connection == "a", "not the most recently used, b")
        #expect(machine.lease(4, bucket: 7).connection == "b", "no match: the most recently used")
    }

    @Test("affinity: a released connection goes to the first waiter of its bucket")
    func waiterAffinity() {
        var machine = Machine(maximumConnections: 1)
        _ = machine.lease(1, bucket: 0)
        _ = machine.lease(2, bucket: 1)
        _ = machine.lease(3, bucket: 0)
        #expect(machine.release("a", bucket: 0, reusable: true).handOver?.waiter == 3)
        #expect(
            machine.release("a", bucket: 0, reusable: true).handOver?.waiter == 2,
            "no waiter of bucket 0 left: first in line")
        #expect(machine.waiters.isEmpty)
    }

    @Test("affinity never starves the oldest waiter: it is passed over at most maximumPassOvers times")
    func affinityIsBounded() {
        var machine = Machine(maximumConnections: 2)
        _ = machine.lease(1, bucket: 0)
        _ = machine.lease(2, bucket: 0)
        _ = machine.lease(100, bucket: 9)  // no connection ever serves bucket 9
        let others = 101...(101 + machine.maximumPassOvers + 2)
        for waiter in others { _ = machine.lease(waiter, bucket: 0) }
        var served: [Int] = []
        while let waiter = machine.release("a", bucket: 0, reusable: true).handOver?.waiter {
            served.append(waiter)
        }
        #expect(served.firstIndex(of: 100) == machine.maximumPassOvers, "\(served)")
        #expect(Set(served) == Set([100] + Array(others)))
    }

    @Test("affinity looks only affinityWindow waiters down the queue")
    func affinityWindow() {
        var machine = Machine(maximumConnections: 1)
        _ = machine.lease(1, bucket: 0)
        for waiter in 2...(machine.affinityWindow + 1) { _ = machine.lease(waiter, bucket: 1) }
        _ = machine.lease(99, bucket: 0)
        #expect(machine.release("a", bucket: 0, reusable: true).handOver?.waiter == 2)
    }

    @Test("affinity: every connection gets a home bucket of its own, its opener's when free, back when it closes")
    func homeBuckets() {
        var machine = Machine(maximumConnections: 3)
        #expect(machine.lease(1, bucket: 2).openedBucket == 2)
        #expect(machine.lease(2, bucket: 2).openedBucket == 0, "2 is taken: the lowest free one")
        #expect(machine.lease(3).openedBucket == 1)
        _ = machine.lease(4, bucket: 2)
        // The broken connection's slot and home pass to the waiter.
        #expect(machine.release("c", bucket: 1, reusable: false).handOver?.grant.openedBucket == 1)
        #expect(machine.release("c", bucket: 1, reusable: false).handOver == nil)
        #expect(machine.lease(5, bucket: 0).openedBucket == 1, "1 is free again; 0 is still held")
    }

    /// Two connections: `a` (home 0) serving tenant 10, and `b` (home 1) idle.
    private func oneBusyOneIdle(at now: ContinuousClock.Instant) -> Machine {
        var machine = Machine(maximumConnections: 2, homeWait: .milliseconds(2))
        _ = machine.lease(1, bucket: 0, key: 10, now: now)
        _ = machine.lease(2, bucket: 1, key: 20, now: now)
        _ = machine.release("b", bucket: 1, reusable: true, now: now)
        return machine
    }

    @Test("a tenant whose home serves another tenant holds out for it rather than visit an idle connection")
    func holdsForHome() {
        let now = ContinuousClock.now
        var machine = oneBusyOneIdle(at: now)
        #expect(
            machine.lease(3, bucket: 0, key: 30, now: now).redispatchAfter == .milliseconds(2),
            "b is idle: check again then")
        #expect(machine.idle == ["b"])
        #expect(machine.lease(4, bucket: 0, key: 31, now: now).redispatchAfter == nil, "one redispatch is already due")
        #expect(machine.release("a", bucket: 0, reusable: true, now: now).handOver?.waiter == 3, "served by its home")
        #expect(
            machine.lease(5, bucket: 0, key: 30, now: now).connection == "b",
            "its home serves it now: busy enough to visit")
        #expect(machine.lease(6, bucket: 7, key: 70, now: now).isWait, "nothing idle: queued as usual")
    }

    @Test("a lease without a tenant on the home connection does not make a tenant hold out")
    func noHoldBehindMaintenance() {
        let now = ContinuousClock.now
        var machine = Machine(maximumConnections: 2)
        _ = machine.lease(1, now: now)
        _ = machine.lease(2, bucket: 1, key: 20, now: now)
        _ = machine.release("b", bucket: 1, reusable: true, now: now)
        #expect(machine.lease(3, bucket: 1, key: 30, now: now).connection == "b")
        _ = machine.release("b", bucket: 1, reusable: true, now: now)
        // Connection a (opened without a bucket) has home 0 and serves no tenant.
        #expect(machine.lease(4, bucket: 0, key: 40, now: now).connection == "b")
    }

    @Test("holding out lasts homeWait: a redispatch then hands over the idle connection")
    func holdingIsBoundedInTime() {
        let now = ContinuousClock.now
        var machine = oneBusyOneIdle(at: now)
        _ = machine.lease(3, bucket: 0, key: 30, now: now)
        let early = machine.redispatch(now: now + .milliseconds(1))
        #expect(early.handOvers.isEmpty && early.again == .milliseconds(2), "still holding out: again later")
        let due = machine.redispatch(now: now + .milliseconds(2))
        #expect(due.handOvers.map(\.waiter) == [3] && due.handOvers.first?.grant.connection == "b")
        #expect(due.again == nil && machine.waiters.isEmpty && machine.idle.isEmpty)
    }

    @Test("holding out is bounded by releases too: the oldest waiter is passed over at most maximumPassOvers times")
    func holdingIsBoundedByReleases() {
        let now = ContinuousClock.now
        var machine = oneBusyOneIdle(at: now)
        #expect(machine.lease(3, bucket: 0, key: 30, now: now).isWait)
        for passOver in 1...machine.maximumPassOvers {
            #expect(machine.lease(100 + passOver, bucket: 1, key: 20, now: now).connection == "b")
            #expect(
                machine.release("b", bucket: 1, reusable: true, now: now).handOver == nil,
                "pass-over \(passOver): b goes idle")
        }
        #expect(machine.lease(200, bucket: 1, key: 20, now: now).connection == "b")
        #expect(
            machine.release("b", bucket: 1, reusable: true, now: now).handOver?.waiter == 3,
            "passed over enough: it visits")
    }

    @Test("a waiter that would visit is served before one holding out for its home")
    func visitorsBeforeHolders() {
        let now = ContinuousClock.now
        var machine = oneBusyOneIdle(at: now)
        #expect(machine.lease(3, bucket: 0, key: 30, now: now).isWait)
        #expect(machine.lease(4, bucket: 1, key: 40, now: now).connection == "b")
        #expect(machine.lease(5, bucket: 0, key: 10, now: now).isWait, "nothing idle")
        #expect(machine.release("b", bucket: 1, reusable: true, now: now).handOver?.waiter == 5, "3 holds out for a")
        #expect(machine.release("a", bucket: 0, reusable: true, now: now).handOver?.waiter == 3)
    }

    @Test("a tenant alone may use every connection")
    func tenantAloneUsesAll() {
        var machine = Machine(maximumConnections: 4, tenantShare: 2)
        for waiter in 1...4 {
            #expect(machine.lease(waiter, bucket: 0, key: 10).isOpenSlot, "lease \(waiter)")
        }
        #expect(machine.lease(5, bucket: 0, key: 10).isWait)
        #expect(
            machine.release("a", bucket: 0, reusable: true).handOver?.waiter == 5, "no one else waits: its own waiter")
    }

    @Test("while another tenant waits, a tenant over its share is served after it, however long it waited")
    func fairShareWhileOthersWait() {
        var machine = Machine(maximumConnections: 4, tenantShare: 2)
        let buckets = (1...4).compactMap { machine.lease($0, bucket: 0, key: 10).openedBucket }
        #expect(buckets.count == 4, "the noisy tenant holds the whole pool")
        // Without buckets, no waiter holds out for a home connection: only the share decides.
        #expect(machine.lease(5, key: 10).isWait)
        #expect(machine.lease(6, key: 20).isWait)
        #expect(machine.lease(7, key: 10).isWait)
        #expect(machine.lease(8, key: 30).isWait)
        // The noisy tenant holds 3 after each release, over its share of 2: the quiet ones go first.
        #expect(machine.release("a", bucket: buckets[0], reusable: true).handOver?.waiter == 6)
        #expect(machine.release("b", bucket: buckets[1], reusable: true).handOver?.waiter == 8)
        // Now at 2 with no other tenant waiting: its own waiters, oldest first.
        #expect(machine.release("c", bucket: buckets[2], reusable: true).handOver?.waiter == 5)
        #expect(machine.release("d", bucket: buckets[3], reusable: true).handOver?.waiter == 7)
        #expect(machine.waiters.isEmpty)
    }

    @Test("a tenant at its share does not take a free connection that another tenant holds out for")
    func fairShareKeepsFreeConnections() {
        let now = ContinuousClock.now
        var machine = Machine(maximumConnections: 3, homeWait: .milliseconds(2), tenantShare: 1)
        #expect(machine.lease(1, bucket: 0, key: 10, now: now).isOpenSlot)
        #expect(machine.lease(2, bucket: 1, key: 20, now: now).isOpenSlot)
        _ = machine.release("b", bucket: 1, reusable: true, now: now)
        // Tenant 30's home (0) serves tenant 10, so it holds out rather than take b at once.
        #expect(machine.lease(3, bucket: 0, key: 30, now: now).isWait)
        #expect(machine.lease(4, bucket: 0, key: 10, now: now).isWait, "tenant 10 is at its share while 30 waits")
        let due = machine.redispatch(now: now + .milliseconds(2))
        #expect(due.handOvers.first?.waiter == 3, "the waiter within its share goes first")
    }

    @Test("a heavy lease (weight 2) counts twice towards its tenant's share; alone, weights do not matter")
    func weightedShare() {
        var machine = Machine(maximumConnections: 4, tenantShare: 2)
        #expect(machine.lease(1, key: 10, weight: 2).isOpenSlot)
        #expect(machine.lease(2, key: 10, weight: 2).isOpenSlot, "no one else waits: the whole pool")
        let bucket = machine.lease(3, key: 20).openedBucket
        let other = machine.lease(4, key: 20).openedBucket
        #expect(bucket != nil && other != nil)
        #expect(machine.lease(5, key: 10, weight: 2).isWait)
        #expect(machine.lease(6, key: 20).isWait)
        // Tenant 10 holds weight 4, so its heavy waiter is over the share of 2 while 20 waits.
        #expect(machine.release("c", bucket: bucket ?? 0, reusable: true).handOver?.waiter == 6)
        #expect(machine.release("d", bucket: other ?? 1, reusable: true).handOver?.waiter == 5, "no one else waits")
        // A weight above the share counts as the share, so a heavy lease is never shut out for good.
        var small = Machine(maximumConnections: 2, tenantShare: 1)
        #expect(small.lease(1, key: 10, weight: 2).isOpenSlot)
    }

    @Test("a waiter whose slot failed to open is replaced by one within its share")
    func fairShareOnFailedSlot() {
        var machine = Machine(maximumConnections: 2, tenantShare: 1)
        let first = machine.lease(1, bucket: 0, key: 10).openedBucket
        let second = machine.lease(2, bucket: 1, key: 10).openedBucket
        #expect(machine.lease(3, bucket: 0, key: 10).isWait)
        #expect(machine.lease(4, bucket: 1, key: 20).isWait)
        #expect(first != nil && second != nil)
        #expect(machine.releaseSlot(bucket: second ?? 1).handOver?.waiter == 4)
    }

    @Test("shutdown hands back idle connections")
    func shutdownClosesIdle() {
        var machine = Machine(maximumConnections: 2)
        _ = machine.lease(1)
        _ = machine.release("a", bucket: 0, reusable: true)
        #expect(machine.shutdown().close == ["a"])
        #expect(machine.idle.isEmpty)
    }
}

extension ConnectionPoolStateMachine.LeaseAction {
    var isOpenSlot: Bool {
        if case .grant(.openSlot) = self { return true }
        return false
    }

    var isWait: Bool {
        if case .wait = self { return true }
        return false
    }

    var redispatchAfter: Duration? {
        if case .wait(let after) = self { return after }
        return nil
    }

    var isShutdown: Bool {
        if case .shutdown = self { return true }
        return false
    }

    var connection: Connection? {
        if case .grant(let grant) = self { return grant.connection }
        return nil
    }

    var openedBucket: Int? {
        if case .grant(let grant) = self { return grant.openedBucket }
        return nil
    }
}

extension ConnectionPoolStateMachine.Grant {
    var isOpenSlot: Bool { self.openedBucket != nil }

    var openedBucket: Int? {
        if case .openSlot(let bucket) = self { return bucket }
        return nil
    }

    var connection: Connection? {
        if case .connection(let connection) = self { return connection }
        return nil
    }
}
