import Foundation
import SCIM
import Testing

@Suite("SCIM dateTime")
struct SCIMDateTests {
    /// The expected text from whole seconds (exact in a `Double`) through Foundation's calendar, and
    /// the milliseconds by integer arithmetic.
    private static func expected(microseconds: Int64) -> String {
        let seconds = microseconds >= 0 ? microseconds / 1_000_000 : -((-microseconds + 999_999) / 1_000_000)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents(
            [.year, .month, .day, .hour, .minute, .second], from: Date(timeIntervalSince1970: Double(seconds)))
        let milliseconds = (microseconds - seconds * 1_000_000) / 1000
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.year!, parts.month!, parts.day!, parts.hour!,
            parts.minute!,
            parts.second!, Int(milliseconds))
    }

    @Test("calendar and millisecond edges, before 1970 too, survive parse then format")
    func edges() throws {
        let texts = [
            "1970-01-01T00:00:00.000Z", "1969-12-31T23:59:59.999Z", "2000-02-29T12:34:56.789Z",
            "1900-03-01T00:00:00.001Z",
            "2100-02-28T23:59:59.000Z", "2024-12-31T23:59:59.999Z", "2026-01-05T17:00:00.123Z",
            "0001-01-01T00:00:00.000Z",
            "9999-12-31T23:59:59.999Z",
        ]
        for text in texts {
            #expect(SCIMDate.format(try #require(SCIMDate.parse(text))) == text)
        }
    }

    @Test("random microsecond timestamps, as PostgreSQL returns them, format to their millisecond")
    func randomTimestamps() {
        var random = SeededRandom(seed: 0x5C1F_DA7E)
        for _ in 0..<20_000 {
            // 1901 to 2099.
            let microseconds = Int64.random(in: -2_177_452_800_000_000...4_102_444_800_000_000, using: &random)
            let date = Date(timeIntervalSince1970: Double(microseconds) / 1_000_000)
            #expect(SCIMDate.format(date) == Self.expected(microseconds: microseconds), "\(microseconds) µs")
        }
    }
}
