import COpenSSL

/// The prepared statements one connection holds, least recently used first out.
///
/// A statement is keyed by its SQL text and its bind type OIDs: the server fixes parameter types at
/// prepare time, so the same text bound once with an inferred type (OID 0, e.g. a NULL) and once with
/// `int8` must not share a statement. A statement's name is a digest of its key (`Key.statementName`),
/// so a name means the same statement on every server session: behind a transaction pooler, where
/// one connection's transactions land on sessions other connections prepared, the worst a stale
/// cache can cause is an error the connection recovers from, never another statement's rows.
///
/// Admission waits for a text's second use (a "doorkeeper" count of texts seen but not prepared): a
/// statement run only once, such as DDL or a tenant touched once, costs one round trip unnamed, where
/// preparing it would cost a prepare, an execute and later a `DEALLOCATE`. A text run for a caller
/// of another pool bucket (a visitor, see `ConnectionPoolStateMachine`) waits for twice as many uses:
/// with many tenants, visitors' texts rarely come back to the same connection before they are
/// evicted, and admitting them pushed out the statements of the tenants the connection serves every
/// moment; one busy tenant, served by every connection, still has its texts prepared on each.
///
/// A plain value owned by its `PostgresConnection`, so it shares that connection's one-user-at-a-time rule.
struct PreparedStatementCache {
    struct Key: Hashable {
        var sql: String
        var types: [UInt32]

        /// `ps_` and the first 128 bits of the SHA-256 of the types and the text, in hex: 35
        /// characters, inside PostgreSQL's 63. A tenant shapes some texts (a filter's structure), so
        /// the digest is a cryptographic one: no tenant can craft a text whose name is another's.
        var statementName: String {
            var input = Array(self.types.map(String.init).joined(separator: ",").utf8)
            input.append(0x0A)
            input.append(contentsOf: self.sql.utf8)
            var digest = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
            input.withUnsafeBufferPointer { bytes in
                digest.withUnsafeMutableBufferPointer { output in
                    _ = SHA256(bytes.baseAddress, bytes.count, output.baseAddress)
                }
            }
            let hex = Array("0123456789abcdef".utf8)
            var name = Array("ps_".utf8)
            for byte in digest.prefix(16) {
                name.append(hex[Int(byte >> 4)])
                name.append(hex[Int(byte & 0x0F)])
            }
            return String(decoding: name, as: UTF8.self)
        }
    }

    private struct Node {
        var key: Key
        var name: String
        /// Towards the most recently used end; -1 at the head.
        var newer: Int
        /// Towards the least recently used end; -1 at the tail.
        var older: Int
    }

    let capacity: Int
    /// How many uses a text needs before it is prepared (1 prepares at once).
    let admitAfterUses: Int
    private var slots: [Key: Int] = [:]
    private var nodes: [Node] = []
    private var freeNodes: [Int] = []
    /// Most recently used.
    private var head = -1
    /// Least recently used: the next to go.
    private var tail = -1
    /// Uses of texts not prepared yet; bounded like the cache.
    private var seen: [Key: Int] = [:]

    init(capacity: Int, admitAfterUses: Int = 2) {
        precondition(capacity > 0, "a prepared statement cache needs room for at least one statement")
        self.capacity = capacity
        self.admitAfterUses = max(1, admitAfterUses)
    }

    var count: Int { self.slots.count }

    /// The statement's name, marking it most recently used, or nil if it is not prepared.
    mutating func lookUp(_ key: Key) -> String? {
        guard let slot = self.slots[key] else { return nil }
        self.moveToHead(slot)
        return self.nodes[slot].name
    }

    /// Whether a text that is not cached should be prepared now; otherwise it runs unnamed and its
    /// use is counted towards admission.
    mutating func shouldPrepare(_ key: Key, forVisitor visitor: Bool = false) -> Bool {
        let needed = visitor ? 2 * self.admitAfterUses : self.admitAfterUses
        let uses = (self.seen[key] ?? 0) + 1
        if uses >= needed {
            self.seen[key] = nil
            return true
        }
        // Forgetting everything at once is crude but costs nothing per query.
        if uses == 1, self.seen.count >= self.capacity {
            self.seen.removeAll(keepingCapacity: true)
        }
        self.seen[key] = uses
        return false
    }

    /// Records a statement the server has prepared.
    /// - Returns: The name of the least recently used statement if it had to make room; the caller
    ///   deallocates it on the server.
    mutating func insert(_ key: Key, name: String) -> String? {
        precondition(self.slots[key] == nil, "statement is already cached")
        var evicted: String?
        if self.slots.count >= self.capacity {
            evicted = self.removeTail()
        }
        let node = Node(key: key, name: name, newer: -1, older: self.head)
        let slot: Int
        if let free = self.freeNodes.popLast() {
            slot = free
            self.nodes[slot] = node
        } else {
            slot = self.nodes.count
            self.nodes.append(node)
        }
        if self.head >= 0 {
            self.nodes[self.head].newer = slot
        }
        self.head = slot
        if self.tail < 0 {
            self.tail = slot
        }
        self.slots[key] = slot
        return evicted
    }

    /// Forgets one statement.
    /// - Returns: Its name, if it was cached.
    @discardableResult
    mutating func remove(_ key: Key) -> String? {
        guard let slot = self.slots.removeValue(forKey: key) else { return nil }
        self.unlink(slot)
        self.freeNodes.append(slot)
        return self.nodes[slot].name
    }

    /// Forgets every statement, for a connection whose server session is gone (the server has
    /// dropped them all).
    mutating func removeAll() {
        self.slots.removeAll()
        self.nodes.removeAll()
        self.freeNodes.removeAll()
        self.head = -1
        self.tail = -1
    }

    /// The cached names, most recently used first; for tests.
    var namesByRecency: [String] {
        var names: [String] = []
        var slot = self.head
        while slot >= 0 {
            names.append(self.nodes[slot].name)
            slot = self.nodes[slot].older
        }
        return names
    }

    private mutating func removeTail() -> String? {
        guard self.tail >= 0 else { return nil }
        return self.remove(self.nodes[self.tail].key)
    }

    private mutating func moveToHead(_ slot: Int) {
        guard slot != self.head else { return }
        self.unlink(slot)
        self.nodes[slot].older = self.head
        self.nodes[slot].newer = -1
        if self.head >= 0 {
            self.nodes[self.head].newer = slot
        }
        self.head = slot
        if self.tail < 0 {
            self.tail = slot
        }
    }

    private mutating func unlink(_ slot: Int) {
        let node = self.nodes[slot]
        if node.newer >= 0 {
            self.nodes[node.newer].older = node.older
        } else {
            self.head = node.older
        }
        if node.older >= 0 {
            self.nodes[node.older].newer = node.newer
        } else {
            self.tail = node.newer
        }
        self.nodes[slot].newer = -1
        self.nodes[slot].older = -1
    }
}
