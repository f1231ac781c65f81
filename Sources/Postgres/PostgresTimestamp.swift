import CivilCalendar
import Foundation

/// Formats and parses `timestamptz` text with microsecond precision.
///
/// Hand-written because Foundation's ISO 8601 styles stop at milliseconds and the server accepts
/// and prints microseconds; the calendar arithmetic is `CivilCalendar`'s.
enum PostgresTimestamp {
    static func twoDigits(_ value: Int) -> String {
        value < 10 ? "0\(value)" : String(value)
    }

    /// `YYYY-MM-DD HH:MM:SS.ffffff+00`, rounded to the microsecond.
    static func format(_ date: Date) -> String {
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        let (seconds, fraction) = micros.quotientAndRemainder(dividingBy: 1_000_000)
        var days = Int(seconds / 86_400)
        var secondOfDay = Int(seconds % 86_400)
        var fractionPart = Int(fraction)
        if fractionPart < 0 {
            fractionPart += 1_000_000
            secondOfDay -= 1
        }
        if secondOfDay < 0 {
            secondOfDay += 86_400
            days -= 1
        }
        let (year, month, day) = CivilCalendar.date(fromDays: days)
        let fractionText = String(fractionPart)
        return PostgresDate(year: year, month: month, day: day).description + " "
            + self.twoDigits(secondOfDay / 3600) + ":" + self.twoDigits(secondOfDay / 60 % 60) + ":"
            + self.twoDigits(secondOfDay % 60) + "."
            + String(repeating: "0", count: 6 - fractionText.count) + fractionText + "+00"
    }

    /// Parses `YYYY-MM-DD[ T]HH:MM:SS[.f…][±HH[:MM[:SS]]]`, the ISO output of `timestamptz` and `timestamp`
    /// (a missing offset is read as UTC, the session time zone this client sets).
    static func parse(_ text: String) throws -> Date {
        var scanner = DigitScanner(text)
        guard
            let year = scanner.number(), scanner.skip("-"),
            let month = scanner.number(), scanner.skip("-"),
            let day = scanner.number(), scanner.skip(" ") || scanner.skip("T"),
            let hour = scanner.number(), scanner.skip(":"),
            let minute = scanner.number(), scanner.skip(":"),
            let second = scanner.number()
        else {
            throw PostgresError(code: .decoding, message: "not an ISO timestamp")
        }
        var micros: Int64 = 0
        if scanner.skip(".") {
            guard let (value, digits) = scanner.numberWithDigits() else {
                throw PostgresError(code: .decoding, message: "malformed fractional seconds")
            }
            micros = Int64(value)
            if digits <= 6 {
                for _ in digits..<6 { micros *= 10 }
            } else {
                for _ in 6..<digits { micros /= 10 }
            }
        }
        var offsetSeconds = 0
        if let sign = scanner.sign() {
            guard let hours = scanner.number() else {
                throw PostgresError(code: .decoding, message: "malformed time zone offset")
            }
            var offset = hours * 3600
            if scanner.skip(":"), let minutes = scanner.number() {
                offset += minutes * 60
                if scanner.skip(":"), let seconds = scanner.number() {
                    offset += seconds
                }
            }
            offsetSeconds = sign * offset
        }
        guard scanner.isAtEnd else {
            throw PostgresError(code: .decoding, message: "unexpected trailing text in timestamp")
        }
        let days = Int64(CivilCalendar.days(fromYear: year, month: month, day: day))
        let seconds = days * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offsetSeconds)
        return Date(timeIntervalSince1970: Double(seconds * 1_000_000 + micros) / 1_000_000)
    }
}

/// A cursor over ASCII digits and punctuation, enough for date/time text.
struct DigitScanner {
    private let bytes: [UInt8]
    private var index = 0

    init(_ text: String) {
        self.bytes = Array(text.utf8)
    }

    var isAtEnd: Bool { self.index == self.bytes.count }

    mutating func skip(_ character: Character) -> Bool {
        guard !self.isAtEnd, let ascii = character.asciiValue, self.bytes[self.index] == ascii else { return false }
        self.index += 1
        return true
    }

    mutating func sign() -> Int? {
        if self.skip("+") { return 1 }
        if self.skip("-") { return -1 }
        return nil
    }

    mutating func number() -> Int? {
        self.numberWithDigits()?.value
    }

    /// Reads up to 18 digits (more would overflow); further digits are consumed and ignored.
    mutating func numberWithDigits() -> (value: Int, digits: Int)? {
        var value = 0
        var digits = 0
        while !self.isAtEnd, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self.bytes[self.index]) {
            if digits < 18 {
                value = value * 10 + Int(self.bytes[self.index] - UInt8(ascii: "0"))
                digits += 1
            }
            self.index += 1
        }
        return digits == 0 ? nil : (value, digits)
    }
}
