import Foundation
import SCIM
import Synchronization

/// Request ids in UUID form, made without a system call.
///
/// Foundation's `UUID()` opens, reads and closes `/dev/urandom` for every id on Linux: three system
/// calls per request. Here a counter goes through SplitMix64's mix, keyed by 128 random bits drawn
/// once per process: ids look random to a client (a plain counter would show everyone the
/// deployment's request volume) and, like random version 4 UUIDs, are unique by the odds of 122 bits,
/// across replicas too. Not for secrets: tokens come from `Secrets`.
final class RequestIDGenerator: Sendable {
    private let counter = Atomic<UInt64>(0)
    private let keys: (UInt64, UInt64)

    init() {
        var random = SystemRandomNumberGenerator()
        self.keys = (random.next(), random.next())
    }

    func next() -> String {
        let count = self.counter.wrappingAdd(1, ordering: .relaxed).newValue
        let high = Self.mix(count ^ self.keys.0)
        let low = Self.mix(count &+ self.keys.1)
        var bytes = (
            UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0),
            UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0)
        )
        withUnsafeMutableBytes(of: &bytes) { buffer in
            buffer.storeBytes(of: high.bigEndian, toByteOffset: 0, as: UInt64.self)
            buffer.storeBytes(of: low.bigEndian, toByteOffset: 8, as: UInt64.self)
            // Version 4 and the RFC 9562 variant.
            buffer[6] = (buffer[6] & 0x0F) | 0x40
            buffer[8] = (buffer[8] & 0x3F) | 0x80
        }
        return UUID(uuid: bytes).lowercasedString
    }

    /// SplitMix64's finaliser: a bijection on 64 bits that scatters consecutive inputs.
    private static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
