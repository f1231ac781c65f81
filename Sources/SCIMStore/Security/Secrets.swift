import COpenSSL
import Foundation

/// Random secrets, their SHA-256 digests and constant-time comparison, all from OpenSSL.
///
/// Tokens are shown once and stored only as digests, so a database leak does not leak credentials.
public enum Secrets {
    private static let base62 = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    /// `count` bytes from OpenSSL's CSPRNG.
    public static func randomBytes(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let status = bytes.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        // RAND_bytes fails only when the CSPRNG cannot be seeded; issuing a weak token would be worse than stopping.
        precondition(status == 1, "OpenSSL RAND_bytes failed")
        return bytes
    }

    /// A random base62 string of `length` characters (rejection sampling keeps it unbiased).
    public static func randomBase62(_ length: Int) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(length)
        while out.count < length {
            for byte in randomBytes(length * 2) where byte < 248 && out.count < length {
                out.append(base62[Int(byte % 62)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func sha256(_ text: String) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        let bytes = Array(text.utf8)
        bytes.withUnsafeBufferPointer { input in
            digest.withUnsafeMutableBufferPointer { output in
                _ = SHA256(input.baseAddress, input.count, output.baseAddress)
            }
        }
        return digest
    }

    /// Compares two byte strings in time that depends only on their length.
    public static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return a.withUnsafeBytes { x in
            b.withUnsafeBytes { y in CRYPTO_memcmp(x.baseAddress, y.baseAddress, a.count) == 0 }
        }
    }
}

/// A credential of the form `<kind>_<12-char public id>_<43-char secret>`.
///
/// The public part (`lascim_AbC123…`) is stored and shown in listings so staff can tell tokens apart;
/// the whole string is only ever hashed.
public struct IssuedSecret: Sendable {
    public var prefix: String
    public var token: String
    public var digest: [UInt8]

    public static func generate(kind: String) -> IssuedSecret {
        let prefix = "\(kind)_\(Secrets.randomBase62(12))"
        let token = "\(prefix)_\(Secrets.randomBase62(43))"
        return IssuedSecret(prefix: prefix, token: token, digest: Secrets.sha256(token))
    }

    /// Splits a presented token into its public prefix, or nil when it cannot be one of ours.
    public static func prefix(of token: String, kind: String) -> String? {
        let parts = token.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == kind, parts[1].count == 12, parts[2].count == 43,
            token.utf8.allSatisfy({ $0 == UInt8(ascii: "_") || base62Set.contains($0) })
        else { return nil }
        return "\(parts[0])_\(parts[1])"
    }

    private static let base62Set = Set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)
}
