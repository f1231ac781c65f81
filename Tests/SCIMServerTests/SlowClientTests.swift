import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import SCIM
import Testing

@testable import SCIMServer

#if canImport(Glibc)
    import Glibc
#endif

/// The deadlines of one connection, with a clock the test moves.
@Suite("Connection deadlines (state machine)")
struct ConnectionDeadlinesTests {
    static let settings: HTTPConnectionSettings = {
        var settings = HTTPConnectionSettings()
        settings.idleTimeout = .seconds(60)
        settings.headerTimeout = .seconds(10)
        settings.bodyTimeout = .seconds(30)
        return settings
    }()

    static func at(_ seconds: Int64) -> NIODeadline { .uptimeNanoseconds(UInt64(1_000 + seconds) * 1_000_000_000) }

    @Test("a new connection has the header timeout for its first request, counted from the accept")
    func firstRequest() {
        var machine = ConnectionDeadlines(settings: Self.settings, now: Self.at(0))
        #expect(machine.phase == .headers && machine.deadline == Self.at(10))
        machine.bytesReceived(now: Self.at(5))
        #expect(machine.deadline == Self.at(10), "bytes of a half-sent header do not extend it")
        #expect(machine.timerFired(now: Self.at(10)) == .close(.headers))
    }

    @Test("a request's body has the body timeout from its head; a response has none; then idle, then headers")
    func keepAliveCycle() {
        var machine = ConnectionDeadlines(settings: Self.settings, now: Self.at(0))
        machine.headReceived(now: Self.at(1))
        #expect(machine.phase == .body && machine.deadline == Self.at(31))
        machine.bytesReceived(now: Self.at(20))
        #expect(machine.deadline == Self.at(31), "body bytes do not extend it")
        machine.endReceived(now: Self.at(22))
        #expect(machine.phase == .responding && machine.deadline == nil)
        #expect(machine.timerFired(now: Self.at(500)) == ConnectionDeadlines.TimerAction.none)
        machine.responseEnded(now: Self.at(23))
        #expect(machine.phase == .idle && machine.deadline == Self.at(83))
        #expect(machine.timerFired(now: Self.at(31)) == .reschedule(Self.at(83)), "an earlier timer sets itself again")
        machine.bytesReceived(now: Self.at(40))
        #expect(
            machine.phase == .headers && machine.deadline == Self.at(50),
            "the next request's headers: 10 s from its first byte")
        #expect(machine.timerFired(now: Self.at(50)) == .close(.headers))
    }

    @Test("an early response (a refusal before the body) leaves the body deadline until the body ends")
    func earlyResponse() {
        var machine = ConnectionDeadlines(settings: Self.settings, now: Self.at(0))
        machine.headReceived(now: Self.at(1))
        machine.responseEnded(now: Self.at(2))
        #expect(machine.phase == .body && machine.deadline == Self.at(31))
        #expect(machine.timerFired(now: Self.at(31)) == .close(.body))
        machine.endReceived(now: Self.at(3))
        #expect(machine.phase == .idle && machine.deadline == Self.at(63))
    }
}

@Suite("Connection settings from the environment")
struct ConnectionSettingsTests {
    static let base = [
        "DATABASE_URL": "postgresql://scim@127.0.0.1:1/scim", "ADMIN_API_TOKEN": "test-admin-token-0123456789",
    ]

    @Test("defaults, explicit values, and MAX_CONNECTIONS within the open-files limit")
    func environment() throws {
        let defaults = try AppConfiguration.fromEnvironment(Self.base, fileLimit: 65_536).connections
        #expect(
            defaults.idleTimeout == .seconds(60) && defaults.headerTimeout == .seconds(10)
                && defaults.bodyTimeout == .seconds(30))
        #expect(defaults.maxConnections == 10_000)
        #expect(
            try AppConfiguration.fromEnvironment(Self.base, fileLimit: 1_024).connections.maxConnections == 512,
            "half a small limit")
        let set = try AppConfiguration.fromEnvironment(
            Self.base.merging([
                "HTTP_IDLE_TIMEOUT_SECONDS": "65", "HTTP_HEADER_TIMEOUT_SECONDS": "5",
                "HTTP_BODY_TIMEOUT_SECONDS": "120",
                "MAX_CONNECTIONS": "20000",
            ]) { $1 }, fileLimit: 65_536
        ).connections
        #expect(set.idleTimeout == .seconds(65) && set.headerTimeout == .seconds(5) && set.bodyTimeout == .seconds(120))
        #expect(set.maxConnections == 20_000)
        for (name, value) in [
            ("HTTP_IDLE_TIMEOUT_SECONDS", "0"), ("HTTP_HEADER_TIMEOUT_SECONDS", "301"),
            ("HTTP_BODY_TIMEOUT_SECONDS", "x"),
            ("MAX_CONNECTIONS", "0"), ("MAX_CONNECTIONS", "65500"),
        ] {
            #expect(throws: ConfigurationError.self, "\(name)=\(value)") {
                try AppConfiguration.fromEnvironment(Self.base.merging([name: value]) { $1 }, fileLimit: 65_536)
            }
        }
    }
}

/// Real listening servers, real sockets: idle, half-sent and surplus connections against the
/// deadlines and the cap, with ordinary requests going through all along.
@Suite("Slow and idle clients", .serialized)
struct SlowClientTests {
    /// One client socket of the test, non-blocking once connected.
    struct Socket {
        let fd: Int32

        /// Connects to 127.0.0.1:port without blocking the thread: the test runs on Swift's cooperative
        /// threads, which the server under test also needs to accept connections.
        static func connect(port: Int, bound: Duration = .seconds(30)) async throws -> Socket {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
            let socket = Socket(fd: fd)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            if result == 0 { return socket }
            guard errno == EINPROGRESS else {
                let error = errno
                socket.close()
                throw POSIXError(.init(rawValue: error) ?? .EIO)
            }
            let clock = ContinuousClock()
            let start = clock.now
            while true {
                var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                if poll(&descriptor, 1, 0) > 0 {
                    var error: Int32 = 0
                    var length = socklen_t(MemoryLayout<Int32>.size)
                    _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
                    guard error == 0 else {
                        socket.close()
                        throw POSIXError(.init(rawValue: error) ?? .EIO)
                    }
                    return socket
                }
                guard clock.now - start < bound else {
                    socket.close()
                    throw POSIXError(.ETIMEDOUT)
                }
                try await Task.sleep(for: .milliseconds(1))
            }
        }

        func send(_ text: String) {
            let bytes = Array(text.utf8)
            _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }

        /// Reads what is there without waiting: true once the server closed the connection (EOF or reset).
        func isClosed(into received: inout [UInt8]) -> Bool {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if count > 0 {
                    received += buffer[0..<count]
                    continue
                }
                if count == 0 { return true }
                return errno != EAGAIN && errno != EWOULDBLOCK
            }
        }

        func close() { _ = Glibc.close(fd) }
    }

    /// Creates an organisation and a SCIM token over fresh connections; returns the token.
    static func organisation(port: Int) async throws -> (slug: String, token: String) {
        let slug = TestDatabase.uniqueSlug("slow")
        func post(_ path: String, _ body: String) async throws -> JSONValue {
            let response = try await exchange(
                port: port,
                "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                    + "Authorization: Bearer \(TestDatabase.adminToken)\r\nContent-Type: application/json\r\n"
                    + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)")
            let parts = response.components(separatedBy: "\r\n\r\n")
            try #require(response.hasPrefix("HTTP/1.1 201"), "\(path): \(response.prefix(300))")
            return try JSONValue.parse(Array(parts.dropFirst().joined(separator: "\r\n\r\n").utf8))
        }
        _ = try await post("/admin/v1/organisations", #"{"slug":"\#(slug)","name":"Slow \#(slug)"}"#)
        let token = try await post("/admin/v1/organisations/\(slug)/tokens", #"{"label":"okta"}"#)
        return (slug, try #require(token[caseInsensitive: "token"]?.stringValue))
    }

    /// Sends one request on a fresh connection with `Connection: close` and returns the response.
    static func request(port: Int, _ head: String, bound: Duration = .seconds(20)) async throws -> String {
        try await exchange(port: port, "\(head)\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", bound: bound)
    }

    /// Sends `raw` on a fresh connection and reads until the server closes it (or `bound` passes).
    static func exchange(port: Int, _ raw: String, bound: Duration = .seconds(20)) async throws -> String {
        let socket = try await Socket.connect(port: port)
        defer { socket.close() }
        socket.send(raw)
        var received: [UInt8] = []
        let clock = ContinuousClock()
        let start = clock.now
        while !socket.isClosed(into: &received), clock.now - start < bound {
            try await Task.sleep(for: .milliseconds(5))
        }
        return String(decoding: received, as: UTF8.self)
    }

    /// Waits (up to `bound`) until every socket is closed by the server; returns how many were, and
    /// runs `meanwhile` every 250 ms.
    static func waitForClose(
        _ sockets: [Socket], bound: Duration, meanwhile: () async throws -> Void
    ) async throws -> Int {
        var open = sockets
        let clock = ContinuousClock()
        let start = clock.now
        var lastRequest = start
        while !open.isEmpty, clock.now - start < bound {
            var received: [UInt8] = []
            open.removeAll { $0.isClosed(into: &received) }
            if clock.now - lastRequest >= .milliseconds(250) {
                try await meanwhile()
                lastRequest = clock.now
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return sockets.count - open.count
    }

    /// How many idle connections to open: 500, fewer when `ulimit -n` is small (each costs this process
    /// two descriptors, client and server). Enough to show the deadlines close connections in bulk
    /// while requests go on; more would only lengthen the kernel's accept queue on a loaded CI machine.
    static var idleCount: Int {
        min(500, max(100, (openFileLimit() - 1_000) / 2 - 400))
    }

    @Test(
        "idle, half-sent headers and half-sent bodies are closed by their deadlines; requests go on",
        .timeLimit(.minutes(2)))
    func deadlines() async throws {
        var configuration = try TestDatabase.configuration()
        configuration.port = 0
        configuration.connections.idleTimeout = .seconds(2)
        configuration.connections.headerTimeout = .seconds(1)
        configuration.connections.bodyTimeout = .seconds(1)
        let app = try await buildApplication(configuration, logger: TestDatabase.logger)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            // Over raw sockets, like everything else here: the test client's own keep-alive
            // connection would be closed by the idle deadline under it.
            let org = try await Self.organisation(port: port)
            var ok = 0
            var normal = 0
            func normalRequest(_ head: String) async throws {
                normal += 1
                let response = try await Self.request(port: port, head)
                if response.hasPrefix("HTTP/1.1 200") {
                    ok += 1
                } else {
                    Issue.record("\(head): \(response.prefix(200))")
                }
            }

            var sockets: [Socket] = []
            defer { sockets.forEach { $0.close() } }
            // Idle from the accept: never a byte.
            for index in 0..<Self.idleCount {
                sockets.append(try await Socket.connect(port: port))
                // Every 200, an ordinary request, which also waits for the accepts queued before it.
                if index % 200 == 199 { try await normalRequest("GET /healthz HTTP/1.1") }
            }
            // Half a header.
            for _ in 0..<100 {
                let socket = try await Socket.connect(port: port)
                socket.send("GET /scim/v2/Users HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                sockets.append(socket)
            }
            // A whole header, half a body.
            for _ in 0..<100 {
                let socket = try await Socket.connect(port: port)
                socket.send(
                    "POST /scim/v2/Users HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(org.token)\r\n"
                        + "Content-Type: application/scim+json\r\nContent-Length: 200\r\n\r\n{\"userName\":")
                sockets.append(socket)
            }
            // One request answered, then idle on keep-alive.
            for _ in 0..<100 {
                let socket = try await Socket.connect(port: port)
                socket.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                sockets.append(socket)
            }
            try await normalRequest("GET /scim/v2/Users?count=1 HTTP/1.1\r\nAuthorization: Bearer \(org.token)")

            let closed = try await Self.waitForClose(sockets, bound: .seconds(25)) {
                try await normalRequest("GET /scim/v2/Users?count=1 HTTP/1.1\r\nAuthorization: Bearer \(org.token)")
            }
            try await normalRequest("GET /healthz HTTP/1.1")
            let metrics = try await Self.request(port: port, "GET /metrics HTTP/1.1")
            print(
                "SlowClientTests.deadlines: \(sockets.count) connections opened (\(Self.idleCount) idle, 100 half headers, "
                    + "100 half bodies, 100 keep-alive), \(closed) closed by the deadlines, \(ok)/\(normal) normal requests OK"
            )
            for line in metrics.split(separator: "\n") where line.hasPrefix("scim_http_connection") {
                print("  \(line)")
            }
            #expect(closed == sockets.count)
            #expect(ok == normal)
        }
    }

    @Test("past MAX_CONNECTIONS a new connection is closed at once; a freed slot serves again", .timeLimit(.minutes(1)))
    func connectionCap() async throws {
        var configuration = try TestDatabase.configuration()
        configuration.port = 0
        configuration.connections.maxConnections = 50
        configuration.connections.headerTimeout = .seconds(300)
        let app = try await buildApplication(configuration, logger: TestDatabase.logger)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            // The harness keeps one keep-alive connection of its own: a request through it first makes
            // sure it holds its slot before ours arrive, so 49 slots are left for them.
            let harness = try await client.execute(uri: "/healthz", method: .get, headers: [:], body: nil) {
                $0.status
            }
            #expect(harness == .ok)
            // 70 silent connections against the 49 slots left. Child channels are set up on two event
            // loops, so which 21 are refused is not known: count the closed ones.
            var sockets: [Socket] = []
            defer { sockets.forEach { $0.close() } }
            for _ in 0..<70 { sockets.append(try await Socket.connect(port: port)) }
            var closed: [Bool] = Array(repeating: false, count: sockets.count)
            func countClosed() -> Int {
                for (index, socket) in sockets.enumerated() where !closed[index] {
                    var received: [UInt8] = []
                    closed[index] = socket.isClosed(into: &received)
                }
                return closed.filter { $0 }.count
            }
            let clock = ContinuousClock()
            let start = clock.now
            while countClosed() < 21, clock.now - start < .seconds(10) { try await Task.sleep(for: .milliseconds(20)) }
            // A moment more, so that a 22nd refusal would be seen.
            try await Task.sleep(for: .milliseconds(300))
            let refused = countClosed()
            // Free 25 slots: a request gets through again (the server sees the closes a moment later).
            let freeing = sockets.indices.filter { !closed[$0] }.prefix(25)
            for index in freeing.reversed() { sockets.remove(at: index).close() }
            let freed = freeing.count
            var served = false
            for _ in 0..<100 where !served {
                served = try await Self.request(port: port, "GET /healthz HTTP/1.1", bound: .seconds(5)).hasPrefix(
                    "HTTP/1.1 200")
                if !served { try await Task.sleep(for: .milliseconds(100)) }
            }
            print(
                "SlowClientTests.connectionCap: cap 50, 70 connections opened, \(refused) refused at once, "
                    + "\(70 - refused) held open, request after freeing \(freed) slots: \(served ? "200" : "failed")")
            #expect(refused == 21, "refused \(refused) of 70 with a cap of 50, one slot the harness's")
            #expect(served)
        }
    }

    @Test(
        "native TLS: a silent connection and a stalled handshake are closed by the header deadline",
        .timeLimit(.minutes(1)))
    func tlsDeadlines() async throws {
        let files = try await TLSTests.selfSigned()
        var configuration = try TestDatabase.configuration()
        configuration.port = 0
        configuration.tls = try TLSFiles(certificatePath: files.certificate, keyPath: files.key)
        configuration.connections.headerTimeout = .seconds(1)
        configuration.connections.idleTimeout = .seconds(1)
        let app = try await buildApplication(configuration, logger: TestDatabase.logger)
        try await app.test(.ahc(.https)) { client in
            let port = try #require(client.port)
            var sockets: [Socket] = []
            defer { sockets.forEach { $0.close() } }
            for _ in 0..<200 { sockets.append(try await Socket.connect(port: port)) }
            for _ in 0..<50 {
                let socket = try await Socket.connect(port: port)
                socket.send("\u{16}\u{03}\u{01}\u{02}")  // the start of a TLS record header, then nothing
                sockets.append(socket)
            }
            var ok = 0
            let closed = try await Self.waitForClose(sockets, bound: .seconds(20)) {
                // The client's pooled connection may meet the 1 s idle deadline between two requests.
                if (try? await client.execute(uri: "/healthz", method: .get) { $0.status }) == .ok { ok += 1 }
            }
            print(
                "SlowClientTests.tlsDeadlines: \(sockets.count) TLS connections opened, \(closed) closed by the deadline, \(ok) HTTPS requests OK"
            )
            #expect(closed == sockets.count)
            #expect(ok > 0)
        }
    }
}
