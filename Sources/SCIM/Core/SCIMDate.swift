import CivilCalendar
import Foundation

/// RFC 3339 timestamps as SCIM `dateTime` values (`2026-01-01T00:00:00.123Z`).
public enum SCIMDate {
    private static let withFraction = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
    private static let withoutFraction = Date.ISO8601FormatStyle()

    /// Milliseconds, truncated, in UTC. Written directly for years 1-9999 (others go through
    /// Foundation): every resource carries two of these, and Foundation's formatter was a third of the
    /// cost of building a user's JSON. It also lost a millisecond to binary fractions now and then
    /// (`…59.999Z` parsed and formatted again came out `…59.998Z`); this rounds to the microsecond,
    /// PostgreSQL's precision, before truncating.
    public static func format(_ date: Date) -> String {
        let microseconds = (date.timeIntervalSince1970 * 1_000_000).rounded()
        guard microseconds.magnitude < 1e18 else { return withFraction.format(date) }
        let (days, millisecondOfDay) = floorDivision(floorDivision(Int(microseconds), 1000).quotient, 86_400_000)
        let (year, month, day) = CivilCalendar.date(fromDays: days)
        guard (1...9999).contains(year) else { return withFraction.format(date) }
        var bytes = [UInt8](repeating: 0, count: 24)
        func put(_ value: Int, at offset: Int, digits: Int) {
            var value = value
            for index in stride(from: offset + digits - 1, through: offset, by: -1) {
                bytes[index] = UInt8(ascii: "0") + UInt8(value % 10)
                value /= 10
            }
        }
        put(year, at: 0, digits: 4)
        put(month, at: 5, digits: 2)
        put(day, at: 8, digits: 2)
        put(millisecondOfDay / 3_600_000, at: 11, digits: 2)
        put(millisecondOfDay / 60_000 % 60, at: 14, digits: 2)
        put(millisecondOfDay / 1000 % 60, at: 17, digits: 2)
        put(millisecondOfDay % 1000, at: 20, digits: 3)
        for (offset, character) in [(4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":"), (19, "."), (23, "Z")]
            as [(Int, Unicode.Scalar)]
        {
            bytes[offset] = UInt8(ascii: character)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Parses RFC 3339 with or without fractional seconds.
    public static func parse(_ text: String) -> Date? {
        (try? withFraction.parse(text)) ?? (try? withoutFraction.parse(text))
    }

    private static func floorDivision(_ value: Int, _ divisor: Int) -> (quotient: Int, remainder: Int) {
        let remainder = (value % divisor + divisor) % divisor
        return ((value - remainder) / divisor, remainder)
    }
}
